:: title: Capture and decode a WPP software trace from a driver
:: what: Starts a trace session for the driver's WPP control GUID with the flags and level you
::   choose, logging to an .etl file. On stop it ends the session, builds the TMF format files from
::   the driver's PDB with tracepdb and decodes the log to readable text with tracefmt.
:: when: You want the driver's DoTraceMessage / TraceEvents output from a repro on a test computer,
::   without a debugger attached. The control GUID is the one in WPP_DEFINE_CONTROL_GUID in Trace.h.
:: run: wpp-trace-capture.cmd start 84bdb2e9-829e-41b3-b891-02f454bc2bd7 0xFFFFFFFF 5
:: look-for: After start - "Logger Started" and the session name. After stop the decoded text
::   is in the TEMP folder as mydriver-trace.txt with one line per trace message (prefix with time,
::   CPU, function). If lines show "Unknown( 10): GUID=... (No Format Information found)" the PDB
::   did not match the traced .sys - pass the PDB built with that binary. tracelog, tracepdb and
::   tracefmt are in the WDK bin folder (use a Developer Command Prompt or the EWDK).
:: topics: tracing, debugging
:: docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/tracelog-command-syntax
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/tracefmt-commands
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/tracepdb-commands
@echo off
setlocal
set SESSION=MyDriverTrace
set ETL=%TEMP%\mydriver-trace.etl
set TMF=%TEMP%\mydriver-tmf
if /i "%~1"=="start" goto start
if /i "%~1"=="stop" goto stop
echo usage: %~nx0 start control-guid [flags] [level]
echo        %~nx0 stop driver.pdb
exit /b 1

:start
if "%~2"=="" (
    echo usage: %~nx0 start control-guid [flags] [level]
    exit /b 1
)
set FLAGS=%~3
if "%FLAGS%"=="" set FLAGS=0xFFFFFFFF
set LEVEL=%~4
rem Level 5 is TRACE_LEVEL_VERBOSE: everything the driver logs.
if "%LEVEL%"=="" set LEVEL=5
tracelog -start %SESSION% -guid #%~2 -flag %FLAGS% -level %LEVEL% -f "%ETL%"
exit /b %errorlevel%

:stop
if "%~2"=="" (
    echo usage: %~nx0 stop driver.pdb
    exit /b 1
)
tracelog -stop %SESSION%
tracepdb -f "%~2" -p "%TMF%"
tracefmt "%ETL%" -p "%TMF%" -o "%TEMP%\mydriver-trace.txt" -nosummary
echo Decoded trace: %TEMP%\mydriver-trace.txt
