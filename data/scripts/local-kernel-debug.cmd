:: title: Turn on local kernel debugging (live kernel on the same computer)
:: what: Enables kernel debugging with the local transport so WinDbg can inspect the running
::   kernel of this computer (read memory, run !process, !devnode, !drvobj) without a second machine.
:: when: You need to look at live kernel state on one computer - device tree, driver objects,
::   pool usage - and do not need breakpoints or stepping (local debugging cannot break or step).
:: run: local-kernel-debug.cmd on
:: look-for: "The operation completed successfully" from both bcdedit commands. After a reboot
::   start windbg -kl (or kd -kl) as administrator. Run local-kernel-debug.cmd off to undo.
::   Suspend BitLocker and Secure Boot first if bcdedit refuses to change debug settings.
:: topics: debugging
:: docs: https://learn.microsoft.com/windows-hardware/drivers/debugger/setting-up-local-kernel-debugging-of-a-single-computer-manually
::   https://learn.microsoft.com/windows-hardware/drivers/debugger/performing-local-kernel-debugging
@echo off
if /i "%~1"=="off" (
    bcdedit /debug off
    echo Reboot to finish turning kernel debugging off.
    exit /b 0
)
if /i not "%~1"=="on" (
    echo usage: %~nx0 on ^| off
    exit /b 1
)
bcdedit /debug on
bcdedit /dbgsettings local
echo Reboot, then run as administrator:  windbg -kl
