"""What an API reference page says, whichever format it came in: the ApiPage record and its URL."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from ingest.markdown import DRIVERS

__all__ = ["CALLABLE", "KIND_PREFIX", "PREFIX_KIND", "REQ_KEYS", "ApiPage", "Param", "ddi_url"]

PREFIX_KIND = {"nf": "function", "nc": "callback", "ns": "structure", "ne": "enumeration", "ni": "IOCTL",
               "nn": "interface", "nl": "class", "na": "header"}
KIND_PREFIX = {"function": "nf", "macro": "nf", "method": "nf", "callback": "nc", "structure": "ns", "union": "ns",
               "enumeration": "ne", "IOCTL": "ni", "interface": "nn", "class": "nl"}
CALLABLE = {"function", "macro", "method", "callback"}
# (front-matter key, label) in the order the docs site shows the requirements table
REQ_KEYS = [
    ("req.target-min-winverclnt", "Minimum supported client"),
    ("req.target-min-winversvr", "Minimum supported server"),
    ("req.target-type", "Target platform"),
    ("req.kmdf-ver", "Minimum KMDF version"),
    ("req.umdf-ver", "Minimum UMDF version"),
    ("req.header", "Header"),
    ("req.lib", "Library"),
    ("req.dll", "DLL"),
    ("req.irql", "IRQL"),
    ("req.ddi-compliance", "DDI compliance rules"),
]


@dataclass
class Param:
    """One parameter, structure member, enumeration value or IOCTL buffer description."""

    name: str
    direction: str
    text: str


@dataclass
class ApiPage:
    """What an API reference page says, whichever format it came in (markdown source or rendered text)."""

    name: str  # the name developers type: KeSetEvent, WDF_OBJECT_ATTRIBUTES, IOCTL_USB_GET_NODE_INFORMATION
    kind: str  # function, macro, method, callback, structure, union, enumeration, IOCTL, interface, class, header
    header: str = ""  # wdm.h
    url: str | None = None
    title: str = ""
    description: str = ""
    api_names: tuple[str, ...] = ()
    alias: str = ""  # a callback's role name: EvtDriverDeviceAdd for EVT_WDF_DRIVER_DEVICE_ADD
    summary: str = ""  # the one-line description from the front matter
    syntax: str = ""
    params: list[Param] = field(default_factory=list)
    params_label: str = "Parameters"
    returns: str = ""
    remarks: str = ""
    requirements: dict[str, str] = field(default_factory=dict)  # label -> value, see REQ_KEYS
    is_index: bool = False


def ddi_url(header: str, kind: str, name: str) -> str | None:
    """The docs URL of an API page built from its header, kind and name.

    Args:
        header: ``wdm.h``.
        kind: ``function``, ``structure``, ``IOCTL``... (see KIND_PREFIX).
        name: ``KeSetEvent`` (methods: ``IFoo::Bar``).

    Returns:
        ``https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent``, or None when a part
        is missing or the kind has no page prefix.
    """
    stem = header.lower().rsplit(".", 1)[0]
    prefix = KIND_PREFIX.get(kind)
    if not stem or not prefix or not name:
        return None
    return f"{DRIVERS}ddi/{stem}/{prefix}-{stem}-{name.lower().replace('::', '-')}"
