:: title: Load, attach, list and unload a file system minifilter with fltmc
:: what: Loads a minifilter driver, attaches it to a volume, lists the registered filters with
::   their altitudes and the instances on each volume, and detaches and unloads it again.
:: when: Developing or testing a file system minifilter: checking that it loads at the altitude
::   from its INF, that its instances attach where you expect, and that it unloads cleanly (a
::   filter that cannot unload usually still holds references or has outstanding callbacks).
:: run: fltmc-minifilter.cmd load MyFilter C:   then   fltmc-minifilter.cmd list   then   fltmc-minifilter.cmd unload MyFilter C:
:: look-for: Your filter in "fltmc filters" with the right altitude and the expected number of
::   instances; "fltmc instances" shows one line per volume it is attached to. An unload that
::   fails with 0x801f0010 or hangs points at references your filter did not release.
:: topics: filesystems, install-inf, testing-verifier
:: docs: https://learn.microsoft.com/windows-hardware/drivers/ifs/development-and-testing-tools
::   https://learn.microsoft.com/windows-hardware/drivers/ifs/load-order-groups-and-altitudes-for-minifilter-drivers
::   https://learn.microsoft.com/windows-hardware/drivers/ifs/loading-and-unloading
@echo off
if /i "%~1"=="load" goto load
if /i "%~1"=="list" goto list
if /i "%~1"=="unload" goto unload
echo usage: %~nx0 load Filter Volume: ^| list ^| unload Filter Volume:
exit /b 1

:load
fltmc load %2
if not "%~3"=="" fltmc attach %2 %3
goto list

:list
fltmc filters
fltmc instances
fltmc volumes
exit /b 0

:unload
if not "%~3"=="" fltmc detach %2 %3
fltmc unload %2
exit /b 0
