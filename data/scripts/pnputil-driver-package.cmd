:: title: Install, update, list and remove a driver package with PnPUtil
:: what: Adds a driver package to the driver store and installs it on matching devices, lists the
::   third-party packages (oemNN.inf names) and devices with their drivers, and deletes a package
::   after uninstalling it from the devices that use it.
:: when: Deploying a new build of your driver to a test computer by hand (the replacement for
::   devcon install/update), or cleaning old versions out of the driver store. Run as administrator.
:: run: pnputil-driver-package.cmd install C:\drop\mydriver\mydriver.inf
:: look-for: "Driver package added successfully" and "Published Name: oemNN.inf" - that oemNN.inf
::   is the name to use with remove. If the device does not pick the new driver, the store has a
::   better-ranked one - check with pnputil-driver-package.cmd devices and look at Matching Drivers.
::   "Driver package failed signature validation" means the catalog is not signed or not trusted.
:: topics: install-inf, pnp
:: docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/pnputil-command-syntax
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/pnputil-examples
@echo off
if /i "%~1"=="install" goto install
if /i "%~1"=="list" goto list
if /i "%~1"=="devices" goto devices
if /i "%~1"=="remove" goto remove
echo usage: %~nx0 install path\driver.inf ^| list ^| devices [class] ^| remove oemNN.inf
exit /b 1

:install
pnputil /add-driver "%~2" /install
exit /b %errorlevel%

:list
pnputil /enum-drivers
exit /b %errorlevel%

:devices
rem /drivers needs Windows 10 version 2004 or later.
if "%~2"=="" (
    pnputil /enum-devices /connected /drivers
) else (
    pnputil /enum-devices /class "%~2" /drivers
)
exit /b %errorlevel%

:remove
pnputil /delete-driver %2 /uninstall /force
exit /b %errorlevel%
