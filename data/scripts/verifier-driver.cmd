:: title: Enable, check and reset Driver Verifier for one driver
:: what: Turns on Driver Verifier's standard checks for one driver (and the KMDF runtime, which also
::   turns on KMDF Verifier), shows what is enabled and the live statistics, and resets everything.
:: when: Before testing a new or changed driver, and when you chase a random crash, pool corruption,
::   IRQL or I/O bug - Verifier turns it into an immediate bug check 0xC4 (or 0xC9, 0xD6) at the
::   faulty call. Always on a test computer, with a kernel debugger attached.
:: run: verifier-driver.cmd on mydriver.sys
:: look-for: After on - reboot, then verifier-driver.cmd query must list your driver under
::   "Verified drivers" with Loaded: 1. A bug check 0xC4 names the rule in parameter 1 - run
::   !analyze -v. Use verifier-driver.cmd reset (then reboot) when done. If the machine cannot boot
::   with Verifier on, boot to safe mode and run verifier /reset.
:: topics: testing-verifier, kmdf, debugging
:: docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/verifier-command-line
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/driver-verifier
::   https://learn.microsoft.com/windows-hardware/drivers/wdf/using-kmdf-verifier
@echo off
if /i "%~1"=="on" goto on
if /i "%~1"=="query" goto query
if /i "%~1"=="reset" goto reset
echo usage: %~nx0 on driver.sys ^| query ^| reset
exit /b 1

:on
if "%~2"=="" (
    echo usage: %~nx0 on driver.sys
    exit /b 1
)
rem wdf01000.sys is added as the KMDF docs recommend, so framework misuse is caught too.
verifier /standard /driver %2 wdf01000.sys
echo Reboot to start verifying %2.
exit /b 0

:query
verifier /querysettings
verifier /query
exit /b 0

:reset
verifier /reset
echo Reboot to turn Driver Verifier off.
exit /b 0
