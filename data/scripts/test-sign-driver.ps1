<#
title: Test-sign a driver package with a self-signed certificate (PowerShell)
what: Creates a self-signed code-signing certificate, exports it, trusts it on this computer
  (Trusted Root and Trusted Publishers), builds the package catalog with Inf2Cat, signs the catalog
  and the .sys files with SignTool using SHA-256, and turns the testsigning boot option on.
when: You develop and test on the same computer (or copy the .cer to the test computer and run the
  Import-Certificate and bcdedit lines there) and do not want the deprecated MakeCert tool.
  Run from an elevated PowerShell where inf2cat.exe and signtool.exe are on PATH (EWDK or a
  Visual Studio Developer PowerShell).
run: powershell -ExecutionPolicy Bypass -File test-sign-driver.ps1 -PackageDir C:\drop\mydriver
look-for: "Signability test complete" from Inf2Cat, "Successfully signed" for the .cat and each .sys
  from SignTool, and "The operation completed successfully" from bcdedit. After a reboot the desktop
  shows "Test Mode". signtool verify /v /pa on the .cat must end with "Successfully verified".
  Secure Boot must be off for test-signed drivers to load.
topics: signing, install-inf, build
docs: https://learn.microsoft.com/windows-hardware/drivers/install/test-signing-a-driver-package-s-catalog-file
  https://learn.microsoft.com/windows-hardware/drivers/install/the-testsigning-boot-configuration-option
  https://learn.microsoft.com/windows-hardware/drivers/devtest/signtool
#>
param(
    [Parameter(Mandatory = $true)] [string] $PackageDir,
    [string] $Subject = "CN=DriverKB Test Signing",
    [string] $Os = "10_X64"
)
$ErrorActionPreference = "Stop"

$cert = New-SelfSignedCertificate -Type CodeSigningCert -Subject $Subject -CertStoreLocation Cert:\CurrentUser\My
$cer = Join-Path $PackageDir "..\DriverTest.cer"
Export-Certificate -Cert $cert -FilePath $cer | Out-Null
# Both stores are needed: Root makes the chain trusted, TrustedPublisher avoids the install prompt.
Import-Certificate -FilePath $cer -CertStoreLocation Cert:\LocalMachine\Root | Out-Null
Import-Certificate -FilePath $cer -CertStoreLocation Cert:\LocalMachine\TrustedPublisher | Out-Null

& inf2cat.exe "/driver:$PackageDir" "/os:$Os"
if ($LASTEXITCODE -ne 0) { throw "inf2cat failed: fix the INF errors it lists" }

$files = @(Get-ChildItem $PackageDir -Include *.cat, *.sys -Recurse | ForEach-Object FullName)
& signtool.exe sign /v /fd sha256 /s My /sha1 $cert.Thumbprint /t http://timestamp.digicert.com @files
if ($LASTEXITCODE -ne 0) { throw "signtool failed" }

& bcdedit.exe /set testsigning on
Write-Host "Certificate: $cer  Thumbprint: $($cert.Thumbprint). Reboot to enter test mode."
