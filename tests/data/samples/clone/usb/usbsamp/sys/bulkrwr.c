#include "private.h"

NTSTATUS ReadWrite(WDFREQUEST Request, WDFUSBPIPE Pipe)
{
    NTSTATUS status = WdfUsbTargetPipeFormatRequestForRead(Pipe, Request, NULL, NULL);
    if (NT_SUCCESS(status)) {
        WdfRequestSend(Request, WdfUsbTargetPipeGetIoTarget(Pipe), WDF_NO_SEND_OPTIONS);
    }
    return status;
}
