<#
title: Scan setupapi.dev.log for a driver's install sections and their errors (PowerShell)
what: Reads the device installation log (%SystemRoot%\INF\setupapi.dev.log), keeps the sections
  (">>>  [title]" ... "<<<  [Exit status]") that mention your INF, hardware ID or device instance
  ID, and prints each with its error ("!!!") and warning ("!") lines and exit status.
when: pnputil /add-driver or a device install failed, the device got a different driver than
  expected, or Device Manager shows code 28/52/39 after an install attempt.
run: powershell -ExecutionPolicy Bypass -File setupapi-log-scan.ps1 -Pattern mydriver.inf -Last 3
look-for: "!!!" lines (errors) such as a signature or catalog failure, a missing file from
  SourceDisksFiles, "Failed to install" or an INF syntax error, and the Exit status of each section
  (0x00000000 is success). The "dvi:" lines show which driver ranked best and why yours lost.
topics: install-inf, pnp, signing
docs: https://learn.microsoft.com/windows-hardware/drivers/install/setupapi-text-logs
  https://learn.microsoft.com/windows-hardware/drivers/install/format-of-a-text-log-section-body
  https://learn.microsoft.com/windows-hardware/drivers/install/troubleshooting-device-and-driver-installations
#>
param(
    [Parameter(Mandatory = $true)] [string] $Pattern,
    [int] $Last = 5,
    [string] $Log = (Join-Path $env:SystemRoot "INF\setupapi.dev.log")
)

$sections = New-Object System.Collections.Generic.List[object]
$current = $null
foreach ($line in Get-Content -LiteralPath $Log) {
    if ($line.StartsWith(">>>  [")) {
        $current = New-Object System.Collections.Generic.List[string]
    }
    if ($null -ne $current) { $current.Add($line) }
    if ($line.StartsWith("<<<  [Exit") -and $null -ne $current) {
        $text = $current -join "`n"
        if ($text -like "*$Pattern*") { $sections.Add($current) }
        $current = $null
    }
}
if ($sections.Count -eq 0) { Write-Host "No section mentions '$Pattern' in $Log"; exit 1 }

foreach ($section in $sections | Select-Object -Last $Last) {
    Write-Host ""
    Write-Host $section[0] -ForegroundColor Cyan
    foreach ($line in $section) {
        if ($line.StartsWith("!!!")) { Write-Host $line -ForegroundColor Red }
        elseif ($line.StartsWith("!")) { Write-Host $line -ForegroundColor Yellow }
    }
    Write-Host $section[$section.Count - 1]
}
