<#
title: Get a device's status and problem code (Device Manager code) from the command line
what: Lists present devices that are not working (Status Error, Degraded or Unknown) with their
  problem code and problem status, or one device by instance ID, and shows PnPUtil's list of
  devices with problems for comparison.
when: A device shows a yellow bang in Device Manager, your driver did not load, or a test script
  needs to check that a device started - without opening Device Manager.
run: powershell -ExecutionPolicy Bypass -File device-problem-status.ps1 -InstanceId "ROOT\SAMPLE\0000"
look-for: ProblemCode - 10 (CM_PROB_FAILED_START, start IRP failed - check your EvtDevicePrepareHardware
  or IRP_MN_START_DEVICE status), 28 (no driver installed), 31 (AddDevice failed), 39 (driver could not
  load, often missing or bad .sys), 43 (stopped after reporting a problem), 52 (signature not
  verified). ProblemStatus is the NTSTATUS the driver returned.
topics: pnp, install-inf
docs: https://learn.microsoft.com/windows-hardware/drivers/install/device-manager-error-messages
  https://learn.microsoft.com/windows-hardware/drivers/devtest/pnputil-examples
  https://learn.microsoft.com/powershell/module/pnpdevice/get-pnpdevice
#>
param([string] $InstanceId = "")

if ($InstanceId) {
    $devices = @(Get-PnpDevice -InstanceId $InstanceId)
} else {
    $devices = @(Get-PnpDevice -PresentOnly | Where-Object { $_.Status -ne "OK" })
}
foreach ($d in $devices) {
    $code = (Get-PnpDeviceProperty -InstanceId $d.InstanceId -KeyName DEVPKEY_Device_ProblemCode -ErrorAction SilentlyContinue).Data
    $ntstatus = (Get-PnpDeviceProperty -InstanceId $d.InstanceId -KeyName DEVPKEY_Device_ProblemStatus -ErrorAction SilentlyContinue).Data
    [pscustomobject]@{
        Name          = $d.FriendlyName
        Class         = $d.Class
        Status        = $d.Status
        ProblemCode   = $code
        ProblemStatus = if ($null -ne $ntstatus) { "0x{0:X8}" -f $ntstatus } else { "" }
        InstanceId    = $d.InstanceId
    }
}
# PnPUtil's view: every device with a problem code (Windows 10 version 1903 and later).
& pnputil.exe /enum-devices /problem
