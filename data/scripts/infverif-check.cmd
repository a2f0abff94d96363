:: title: Check a driver package's INF with InfVerif
:: what: Runs InfVerif on an INF in the modes that matter for shipping (Windows Driver /w and the
::   WHQL signature requirements /h), with verbose output and an annotated HTML copy of the INF.
:: when: After every INF edit and before building the catalog or submitting the package: the
::   Hardware Lab Kit and the dashboard run the same checks and reject a package that fails them.
:: run: infverif-check.cmd C:\build\MyDriver\MyDriver.inf
:: look-for: "INF is VALID" for each mode. Each error line has a code (for example 1233 or 1330);
::   run infverif /code NUMBER for its explanation. Open the HTML report in the same folder to
::   see each error next to the INF line that caused it. Run stampinf first if the INF still
::   contains $ARCH$, or add /stampinf.
:: topics: install-inf, signing, testing-verifier
:: docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/infverif
::   https://learn.microsoft.com/windows-hardware/drivers/devtest/running-infverif-from-the-command-line
@echo off
if "%~1"=="" (
    echo usage: %~nx0 path\to\driver.inf
    exit /b 1
)
set REPORT=%~dp1infverif-report
if not exist "%REPORT%" mkdir "%REPORT%"
echo ===== Windows Driver requirements (/w)
infverif /w /v /l "%REPORT%" "%~1"
echo ===== WHQL signature requirements (/h)
infverif /h /v "%~1"
echo ===== INF summary
infverif /info "%~1"
