/*++
Module Name: device.c
    A block comment that names IoCreateDevice must not count as a call.
--*/
#include "driver.h"

NTSTATUS
EchoDeviceCreate(PWDFDEVICE_INIT DeviceInit)
{
    WDFDEVICE device;
    NTSTATUS status;

    // IoDeleteDevice is only mentioned in this line comment.
    status = WdfDeviceCreate(&DeviceInit, WDF_NO_OBJECT_ATTRIBUTES, &device);
    if (!NT_SUCCESS(status)) {
        KdPrint(("WdfIoQueueCreate failed in a string literal\n"));
        return status;
    }
    return status;
}
