:: title: Test-sign a driver package with MakeCert, Inf2Cat and SignTool (classic WDK steps)
:: what: On the build computer creates a test certificate, builds the package's catalog file
::   with Inf2Cat and signs it with SignTool (SHA-256). On the test computer installs the
::   certificate in the Trusted Root and Trusted Publishers stores and turns test signing on.
:: when: You install a driver you built yourself on a 64-bit test computer, which refuses
::   unsigned kernel drivers. Run "sign" from a WDK/EWDK command prompt, "trust" as administrator
::   on the test computer, then reboot it.
:: run: test-sign-makecert.cmd sign C:\drop\mydriver
:: look-for: Inf2Cat "Signability test complete" with no errors and a new .cat file, SignTool
::   "Successfully signed", and after "trust" plus a reboot the "Test Mode" watermark on the
::   desktop. Verify with signtool verify /v /pa file.cat. Secure Boot must be off for test signing.
:: topics: signing, install-inf, build
:: docs: https://learn.microsoft.com/windows-hardware/drivers/install/test-signing-a-driver-package-s-catalog-file
::   https://learn.microsoft.com/windows-hardware/drivers/install/using-certmgr-to-install-test-certificates-on-a-test-computer
::   https://learn.microsoft.com/windows-hardware/drivers/install/the-testsigning-boot-configuration-option
@echo off
setlocal
if /i "%~1"=="sign" goto sign
if /i "%~1"=="trust" goto trust
echo usage: %~nx0 sign package-folder ^| trust certificate.cer
exit /b 1

:sign
if not exist "%~2" (
    echo usage: %~nx0 sign package-folder
    exit /b 1
)
if not exist ContosoTest.cer makecert -r -pe -ss PrivateCertStore -n "CN=Contoso.com(Test)" ContosoTest.cer
inf2cat /driver:"%~2" /os:10_X64
for %%f in ("%~2\*.cat") do (
    signtool sign /v /fd sha256 /s PrivateCertStore /n "Contoso.com(Test)" /t http://timestamp.digicert.com "%%f"
)
echo Copy ContosoTest.cer and the package to the test computer and run: %~nx0 trust ContosoTest.cer
exit /b 0

:trust
certmgr /add "%~2" /s /r localMachine root
certmgr /add "%~2" /s /r localMachine trustedpublisher
bcdedit /set testsigning on
echo Reboot to turn test signing on.
