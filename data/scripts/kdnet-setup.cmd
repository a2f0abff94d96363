:: title: Set up kernel debugging over the network (KDNET) on the target computer
:: what: Checks that the target's network adapter supports KDNET, turns kernel debugging on and
::   points it at the host computer's IP address and port. KDNET (or BCDEdit) prints the
::   connection key the host needs.
:: when: Preparing a test computer for kernel debugging with WinDbg over Ethernet - the usual
::   setup for driver development. Run it as administrator on the target, not on the host.
:: run: kdnet-setup.cmd 192.168.1.10 50000
:: look-for: "Network debugging is supported on the following NICs" listing a plugged-in adapter,
::   and the Key=... line - copy the key. On the host start windbg -k net:port=50000,key=KEY,
::   then reboot the target. Suspend BitLocker and turn off Secure Boot first if bcdedit refuses.
::   Use a port in 50000-50039, and allow the debugger through the host's firewall.
:: topics: debugging
:: docs: https://learn.microsoft.com/windows-hardware/drivers/debugger/setting-up-a-network-debugging-connection-automatically
::   https://learn.microsoft.com/windows-hardware/drivers/debugger/setting-up-a-network-debugging-connection
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/bcdedit--dbgsettings
@echo off
setlocal
if "%~2"=="" (
    echo usage: %~nx0 host-ip-address port
    exit /b 1
)
rem kdnet.exe and VerifiedNICList.xml come from the Debuggers\x64 folder of the WDK; copy both next to this script.
if exist "%~dp0kdnet.exe" (
    "%~dp0kdnet.exe"
    "%~dp0kdnet.exe" %1 %2
) else (
    bcdedit /debug on
    bcdedit /dbgsettings net hostip:%1 port:%2
)
bcdedit /dbgsettings
echo.
echo On the host run:  windbg -k net:port=%2,key=KEY-PRINTED-ABOVE
echo Then reboot this computer:  shutdown -r -t 0
