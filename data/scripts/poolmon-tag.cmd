:: title: Watch pool usage by tag with PoolMon (find the tag that leaks)
:: what: Runs PoolMon sorted by bytes used, optionally only for tags that match a pattern, with tag
::   owners resolved from pooltag.txt, or writes one snapshot to a file so two snapshots can be compared.
:: when: Memory use grows while your driver runs and you want to see which pool tag grows before
::   you break into a debugger. PoolMon is in the WDK Tools folder.
:: run: poolmon-tag.cmd Tag*
:: look-for: A tag whose Bytes and Allocs keep rising while Frees stay behind (press p to switch
::   between paged and nonpaged pool, q to quit). Map the tag to a driver with the Mapped_Driver
::   column or findstr /m /l Tag1 C:\Windows\System32\drivers\*.sys, then use !poolused and !poolfind
::   (pool-leak.wds) in the debugger.
:: topics: memory, debugging
:: docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/poolmon-startup-command
::   https://learn.microsoft.com/windows-hardware/drivers/debugger/using-poolmon-to-find-a-kernel-mode-memory-leak
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/poolmon-examples
@echo off
setlocal
set POOLTAG="%ProgramFiles(x86)%\Windows Kits\10\Debuggers\x64\triage\pooltag.txt"
if /i "%~1"=="snapshot" (
    rem /n writes one snapshot and exits.
    poolmon /b /n "%~2"
    exit /b %errorlevel%
)
if "%~1"=="" (
    poolmon /b /g %POOLTAG%
) else (
    poolmon /i%~1 /b /g %POOLTAG%
)
