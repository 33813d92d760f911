"""The two bodies the sandbox can give the GET inbox and GET delivery-status answers.

`spec`: the OpenAPI spec's camelCase shapes (`inboundSMSMessageList`, `deliveryInfoList`).
`codekit`: what AT&T's own SDKs (the public `attdevsupport/codekit-*` libraries) parse, as their
unit tests hold it, because that is what the live service sent them:

- codekit-php `tests/sms/SMS_GetSMSResponseTest.php` (and codekit-java
  `SMSGetResponseTest.java`): `{"InboundSmsMessageList": {"InboundSmsMessage": [{"MessageId",
  "Message", "SenderAddress": "tel:5555551234"}], "NumberOfMessagesInThisBatch": "1",
  "ResourceUrl", "TotalNumberOfPendingMessages": "0"}}`: counts as strings (codekit-java reads
  them with `getString`), a +1 sender as `tel:` and ten digits.
- codekit-php `tests/sms/SMS_DeliveryStatusTest.php` (and codekit-java `SMSStatusTest.java`):
  `{"DeliveryInfoList": {"DeliveryInfo": [{"Id": "msg0", "Address": "+15555555992",
  "DeliveryStatus": "DeliveredToTerminal"}], "ResourceUrl"}}`: `Id` is the message id (codekit-java
  `SMSDeliveryInfo.getMessageId`), the address `+1…` without `tel:`.

The SDKs read only those keys. The codekit inbox adds `DateTime` and `DestinationAddress`, the
names the inbound callback uses, so a client that dates messages or routes them by short code
loses nothing in this dialect. Send and token answers are the same in both dialects (the SDKs read
the spec's `outboundSMSResponse` and token fields), and so are callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SPEC = "spec"
CODEKIT = "codekit"
DIALECTS = (SPEC, CODEKIT)

_TEL_US = "tel:+1"


def delivery_status_body(
    dialect: str, message_id: str, statuses: Sequence[tuple[str, str]], url: str
) -> dict[str, Any]:
    """The GET delivery-status body for `statuses`: (canonical address, status) pairs."""
    if dialect == CODEKIT:
        info = [
            {"Id": message_id, "Address": _codekit_recipient(address), "DeliveryStatus": status}
            for address, status in statuses
        ]
        return {"DeliveryInfoList": {"DeliveryInfo": info, "ResourceUrl": url}}
    spec_info = [{"address": address, "deliveryStatus": status} for address, status in statuses]
    return {"deliveryInfoList": {"deliveryInfo": spec_info, "resourceURL": url}}


def inbox_body(
    dialect: str, batch: Sequence[Mapping[str, Any]], pending: int, url: str
) -> dict[str, Any]:
    """The GET inbox body for `batch` (messages as the state keeps them, in the spec's keys)."""
    if dialect == CODEKIT:
        listing: dict[str, Any] = {
            "InboundSmsMessage": [_codekit_inbound(message) for message in batch],
            "NumberOfMessagesInThisBatch": str(len(batch)),
            "ResourceUrl": url,
            "TotalNumberOfPendingMessages": str(pending),
        }
        return {"InboundSmsMessageList": listing}
    listing = {
        "inboundSMSMessage": list(batch),
        "numberOfMessagesInThisBatch": len(batch),
        "resourceURL": url,
        "totalNumberOfPendingMessages": pending,
    }
    return {"inboundSMSMessageList": listing}


def _codekit_inbound(message: Mapping[str, Any]) -> dict[str, Any]:
    sender = str(message["senderAddress"])
    if sender.startswith(_TEL_US):  # tel:+15555551234 -> tel:5555551234
        sender = "tel:" + sender[len(_TEL_US) :]
    return {
        "MessageId": message["messageId"],
        "Message": message["message"],
        "SenderAddress": sender,
        "DestinationAddress": message["destinationAddress"],
        "DateTime": message["dateTime"],
    }


def _codekit_recipient(address: str) -> str:
    """`tel:+15555555992` -> `+15555555992`; a short code keeps its `short:` form."""
    return address[len("tel:") :] if address.startswith("tel:") else address
