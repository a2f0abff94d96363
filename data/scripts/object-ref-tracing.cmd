:: title: Turn on object reference tracing for a pool tag (for !obtrace)
:: what: Uses GFlags to record a stack trace every time the reference count of an object created
::   with the given pool tag goes up or down, so the debugger's !obtrace can show who took the
::   reference that was never released. Run-time setting - effective now, gone after a reboot.
:: when: An object (device, file, event, your own object type) leaks a reference and breakpoints on
::   the count are impractical - many objects or a long repro. Start tracing before the process or
::   driver that creates the object starts.
:: run: object-ref-tracing.cmd Tag1
:: look-for: GFlags prints "Object Ref Tracing Enabled" with "Pool Tags: Tag1". Reproduce, break in
::   and run !obtrace on the object address - each +1 without a matching -1 is a leaked reference,
::   and its stack names the caller. Run object-ref-tracing.cmd off to stop tracing.
::   gflags.exe is in the Debugging Tools for Windows folder.
:: topics: debugging, memory
:: docs: https://learn.microsoft.com/windows-hardware/drivers/debugger/object-reference-tracing
::   https://learn.microsoft.com/windows-hardware/drivers/debugger/example-15--using-object-reference-tracing
::   https://learn.microsoft.com/windows-hardware/drivers/debuggercmds/-obtrace
@echo off
if "%~1"=="" (
    echo usage: %~nx0 pooltag[;pooltag...] ^| off
    exit /b 1
)
if /i "%~1"=="off" (
    gflags /ko /d
    exit /b %errorlevel%
)
rem /p keeps the trace after the object is freed, so a freed-but-leaked object can still be traced.
gflags /ko /p /t %1
gflags /ko
