:: title: Scan a driver with CodeQL and the Windows driver query suite
:: what: Builds your driver under CodeQL to create a database, then runs Microsoft's recommended
::   Windows driver query suite over it and writes the findings as a SARIF file.
:: when: Before submitting a driver for certification (the WHCP requires the CodeQL "must-fix"
::   checks to pass), and whenever you change code that touches IRQL, pool, user buffers or locks.
:: run: codeql-scan.cmd D:\Drivers\MyDriver D:\Drivers\MyDriver\MyDriver.sln C:\codeql-home\Windows-Driver-Developer-Supplemental-Tools
:: look-for: Each SARIF file lists each finding with rule id, file and line; open it with the SARIF
::   viewer in Visual Studio (or any SARIF viewer). Fix every result of the must-fix suite; review
::   the recommended ones. An empty database (no source files extracted) means the build did not really compile:
::   use /t:rebuild so CodeQL sees the compiler run.
:: topics: testing-verifier, security, build
:: docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/static-tools-and-codeql
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/codeql-faq
@echo off
setlocal
if "%~3"=="" (
    echo usage: %~nx0 source-root solution-or-project queries-folder
    exit /b 1
)
set SRC=%~1
set SLN=%~2
set QUERIES=%~3
set DB=%TEMP%\codeql-driver-db
if exist "%DB%" rmdir /s /q "%DB%"
rem A full rebuild: CodeQL only extracts the files it sees being compiled.
codeql database create "%DB%" --language=cpp --source-root="%SRC%" --command="msbuild /t:rebuild \"%SLN%\""
if errorlevel 1 exit /b 1
rem mustfix.qls is what the WHCP Static Tools Logo Test requires; recommended.qls is its superset.
codeql database analyze "%DB%" "%QUERIES%\src\windows-driver-suites\mustfix.qls" --format=sarifv2.1.0 --output="%SRC%\codeql-mustfix.sarif"
codeql database analyze "%DB%" "%QUERIES%\src\windows-driver-suites\recommended.qls" --format=sarifv2.1.0 --output="%SRC%\codeql-recommended.sarif"
echo Results: %SRC%\codeql-mustfix.sarif and %SRC%\codeql-recommended.sarif
