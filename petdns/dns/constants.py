"""DNS numbers: record types, the IN class, rcodes, header flag bits, EDNS values and their names."""

from __future__ import annotations

from typing import Final

# record types
A: Final = 1
NS: Final = 2
CNAME: Final = 5
SOA: Final = 6
PTR: Final = 12
MX: Final = 15
TXT: Final = 16
AAAA: Final = 28
SRV: Final = 33
OPT: Final = 41
IXFR: Final = 251
AXFR: Final = 252
ANY: Final = 255
# The types CoreDNS labels by name (every one below 256); the rest are "other".
TYPE_NAMES: Final = {
    A: "A",
    NS: "NS",
    CNAME: "CNAME",
    SOA: "SOA",
    PTR: "PTR",
    MX: "MX",
    TXT: "TXT",
    AAAA: "AAAA",
    SRV: "SRV",
    43: "DS",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    50: "NSEC3",
    IXFR: "IXFR",
    AXFR: "AXFR",
    ANY: "ANY",
}

IN: Final = 1

# rcodes (BADVERS is an extended rcode: its upper eight bits go into the OPT record)
NOERROR: Final = 0
FORMERR: Final = 1
SERVFAIL: Final = 2
NXDOMAIN: Final = 3
NOTIMP: Final = 4
REFUSED: Final = 5
BADVERS: Final = 16
RCODE_NAMES: Final = {
    NOERROR: "NOERROR",
    FORMERR: "FORMERR",
    SERVFAIL: "SERVFAIL",
    NXDOMAIN: "NXDOMAIN",
    NOTIMP: "NOTIMP",
    REFUSED: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}

# header flag bits (of the 16-bit word after the ID)
QR: Final = 0x8000
OPCODE: Final = 0x7800
AA: Final = 0x0400
TC: Final = 0x0200
RD: Final = 0x0100
RA: Final = 0x0080
Z: Final = 0x0040
AD: Final = 0x0020
CD: Final = 0x0010
FLAG_NAMES: Final = (
    (QR, "qr"),
    (AA, "aa"),
    (TC, "tc"),
    (RD, "rd"),
    (RA, "ra"),
    (Z, "z"),
    (AD, "ad"),
    (CD, "cd"),
)

# EDNS
DO: Final = 0x8000  # in the OPT record's TTL field
MIN_UDP: Final = 512  # what a client without EDNS (or advertising less) can receive
MAX_UDP: Final = 65535
