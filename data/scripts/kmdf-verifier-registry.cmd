:: title: Turn on KMDF Verifier and a bigger in-flight recorder log for one driver (registry)
:: what: Sets VerifierOn, VerboseOn and DbgBreakOnError and raises LogPages under the driver's
::   Services\NAME\Parameters\Wdf key, so the framework checks every WDF call your driver makes,
::   breaks into the debugger on errors and keeps a larger IFR log for !wdfkd.wdflogdump.
:: when: Developing or testing a KMDF driver and you want framework verification without full
::   Driver Verifier, or you need more IFR history than the default one page.
:: run: kmdf-verifier-registry.cmd mydriver
:: look-for: "The operation completed successfully" four times. The settings are read when the
::   driver loads (WdfDriverCreate): disable and enable the device or reboot. Check with
::   !wdfkd.wdfdriverinfo mydriver 0x1 in the debugger. Run kmdf-verifier-registry.cmd mydriver off
::   to delete the values when you are done.
:: topics: kmdf, testing-verifier, registry, debugging
:: docs: https://learn.microsoft.com/windows-hardware/drivers/wdf/using-kmdf-verifier
::   https://learn.microsoft.com/windows-hardware/drivers/wdf/registry-values-for-debugging-kmdf-drivers
@echo off
setlocal
if "%~1"=="" (
    echo usage: %~nx0 service-name [off]
    exit /b 1
)
set KEY=HKLM\SYSTEM\CurrentControlSet\Services\%~1\Parameters\Wdf
if /i "%~2"=="off" (
    reg delete "%KEY%" /v VerifierOn /f
    reg delete "%KEY%" /v VerboseOn /f
    reg delete "%KEY%" /v DbgBreakOnError /f
    reg delete "%KEY%" /v LogPages /f
    exit /b 0
)
reg add "%KEY%" /v VerifierOn /t REG_DWORD /d 1 /f
reg add "%KEY%" /v VerboseOn /t REG_DWORD /d 1 /f
reg add "%KEY%" /v DbgBreakOnError /t REG_DWORD /d 1 /f
rem 16 pages is the largest IFR size on x64.
reg add "%KEY%" /v LogPages /t REG_DWORD /d 16 /f
echo Restart the device or reboot so %~1 reloads with the new settings.
