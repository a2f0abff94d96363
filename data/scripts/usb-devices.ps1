<#
title: List USB devices with their status, driver and hardware IDs (PowerShell)
what: Lists present USB devices (and USB-class devices) with their status, problem code, instance
  ID, hardware IDs and the driver (INF, version, service) bound to each, then prints the PnPUtil
  view of the same devices with matching drivers.
when: A USB device does not show up, shows up with a yellow bang, or binds to the wrong driver -
  before opening USBView or a kernel debugger. Use the VID/PID to find it.
run: powershell -ExecutionPolicy Bypass -File usb-devices.ps1 -Match VID_045E
look-for: Status other than OK and a ProblemCode (10 = failed to start, 28 = no driver, 43 =
  device reported a problem, often a descriptor failure). The HardwareIds your INF must list, and
  whether DriverInfPath is your oemNN.inf or a Microsoft inbox INF (usb.inf, winusb.inf). For
  descriptors use USBView (usbview.exe in the WDK) or the usb-inspect.wds debugger script.
topics: usb, pnp, install-inf
docs: https://learn.microsoft.com/windows-hardware/drivers/devtest/pnputil-command-syntax
  https://learn.microsoft.com/windows-hardware/drivers/debugger/usbview
  https://learn.microsoft.com/powershell/module/pnpdevice/get-pnpdevice
#>
param([string] $Match = "")

$devices = Get-PnpDevice -PresentOnly | Where-Object {
    ($_.InstanceId -like "USB\*" -or $_.Class -eq "USB" -or $_.Class -eq "USBDevice") -and
    ($Match -eq "" -or $_.InstanceId -like "*$Match*" -or $_.FriendlyName -like "*$Match*")
}
foreach ($d in $devices) {
    $props = Get-PnpDeviceProperty -InstanceId $d.InstanceId -KeyName `
        DEVPKEY_Device_ProblemCode, DEVPKEY_Device_HardwareIds, DEVPKEY_Device_DriverInfPath, `
        DEVPKEY_Device_DriverVersion, DEVPKEY_Device_Service -ErrorAction SilentlyContinue
    $value = @{}
    foreach ($p in $props) { $value[$p.KeyName] = $p.Data }
    [pscustomobject]@{
        Name          = $d.FriendlyName
        Status        = $d.Status
        ProblemCode   = $value["DEVPKEY_Device_ProblemCode"]
        InstanceId    = $d.InstanceId
        HardwareIds   = ($value["DEVPKEY_Device_HardwareIds"] -join "; ")
        DriverInfPath = $value["DEVPKEY_Device_DriverInfPath"]
        DriverVersion = $value["DEVPKEY_Device_DriverVersion"]
        Service       = $value["DEVPKEY_Device_Service"]
    }
}
# The same devices as PnPUtil sees them, with the drivers that match. /bus needs Windows 11,
# /drivers Windows 10 version 2004; older systems fall back to the USB setup class.
& pnputil.exe /enum-devices /connected /bus USB /drivers
if ($LASTEXITCODE -ne 0) { & pnputil.exe /enum-devices /class USB /drivers }
