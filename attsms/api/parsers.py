"""The lenient parsers of the service's answers: its JSON, in any shape it has used, to the
dataclasses of `attsms.core.models` (and its error bodies to a `ServiceFault`).

The real service is less tidy than its spec: keys in camelCase or PascalCase, counts sent as
strings, a single object where a list is documented, `resourceReference` missing. A parser raises
ValueError for an answer it cannot use; the client turns that into an `ApiError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attsms.core.errors import ApiError
from attsms.core.inbound import sender_address, time_text
from attsms.core.models import (
    DeliveryInfo,
    DeliveryStatus,
    InboundMessage,
    InboxBatch,
    SendResult,
    Token,
    header_safe,
)
from attsms.core.numbers import canonical


def field(obj: Any, *names: str) -> Any:
    """`obj[name]` for the first of `names` present, compared case-insensitively; else None."""
    # `type() is dict` first: what JSON gives, and an ABC isinstance() costs ~0.5 us a call.
    if type(obj) is not dict and not isinstance(obj, Mapping):
        return None
    for name in names:  # the spec's own spelling: no need to fold every key
        value = obj.get(name)
        if value is not None:
            return value
    folded = {str(k).casefold(): v for k, v in obj.items()}
    for name in names:
        value = folded.get(name.casefold())
        if value is not None:
            return value
    return None


def as_int(value: Any, default: int = 0) -> int:
    """An integer the service may have sent as a number or a string ("3", "3.0")."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return default
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else default
    return default


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def as_list(value: Any) -> list[Any]:
    """A list the service may have sent as a single object."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        # JSON may carry lone surrogates ("\ud800"), which no UTF-8 store or stream can hold.
        return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse_token(body: Any, now: float) -> Token:
    access = as_str(field(body, "access_token", "accessToken"))
    if not access:
        raise ApiError("the token answer holds no access_token", status=200)
    if not header_safe(access):  # never quoted: it is a secret, however malformed
        raise ApiError(
            "the token answer holds an access_token that cannot be sent (not visible ASCII)",
            status=200,
        )
    expires_in = as_int(field(body, "expires_in", "expiresIn"), default=0)
    return Token(
        access_token=access,
        refresh_token=as_str(field(body, "refresh_token", "refreshToken")),
        expires_at=None if expires_in <= 0 else now + expires_in,
        token_type=as_str(field(body, "token_type", "tokenType")) or "BEARER",
    )


def parse_send(body: Any, addresses: Sequence[str]) -> SendResult:
    response = field(body, "outboundSMSResponse")
    message_id = as_str(field(response, "messageId"))
    if not message_id:
        raise ValueError("no outboundSMSResponse.messageId")
    reference = field(response, "resourceReference")
    return SendResult(
        message_id=message_id,
        addresses=tuple(addresses),
        resource_url=as_str(field(reference, "resourceURL")),
    )


def parse_delivery_status(body: Any, message_id: str) -> DeliveryStatus:
    info_list = field(body, "deliveryInfoList")
    if not isinstance(info_list, Mapping):
        raise ValueError("no deliveryInfoList")
    deliveries = []
    for item in as_list(field(info_list, "deliveryInfo")):
        address = as_str(field(item, "address"))
        status = as_str(field(item, "deliveryStatus"))
        if address is None or status is None:
            raise ValueError("a deliveryInfo without address or deliveryStatus")
        deliveries.append(DeliveryInfo(address=canonical(address), status=status))
    return DeliveryStatus(
        message_id=message_id,
        deliveries=tuple(deliveries),
        resource_url=as_str(field(info_list, "resourceURL")),
    )


def parse_inbox(body: Any) -> InboxBatch:
    message_list = field(body, "inboundSMSMessageList")
    if not isinstance(message_list, Mapping):
        raise ValueError("no inboundSMSMessageList")
    messages = []
    for item in as_list(field(message_list, "inboundSMSMessage")):
        message_id = as_str(field(item, "messageId"))
        if not message_id:
            raise ValueError("an inbound message without messageId")
        messages.append(
            InboundMessage(
                message_id=message_id,
                message=as_str(field(item, "message")) or "",
                sender=_sender(as_str(field(item, "senderAddress")) or ""),
                destination=as_str(field(item, "destinationAddress")) or "",
                received_at=_received_at(field(item, "dateTime")),
            )
        )
    return InboxBatch(
        messages=tuple(messages),
        pending=as_int(field(message_list, "totalNumberOfPendingMessages")),
        resource_url=as_str(field(message_list, "resourceURL")),
    )


def _sender(raw: str) -> str:
    """The sender's wire form when it is a phone number or short code (`core.inbound`'s rule,
    the one `listen` applies); else what the service sent: a pull cannot refuse a message the
    service has already forgotten. The store gives such a sender no keyword (no opt-out)."""
    return sender_address(raw) or canonical(raw)


def _received_at(value: Any) -> str:
    """The dateTime as sent (trimmed) when it is an ISO 8601 time, "" when there is none; else
    kept as text as it came (`core.inbound.readable` then says it is no time: the store dates
    the message by its arrival)."""
    text = time_text(value)
    if text is not None:
        return text
    shown = as_str(value)
    return shown if shown is not None else json.dumps(value, default=str)[:200]


@dataclass(frozen=True)
class ServiceFault:
    code: str | None
    text: str


def parse_error_body(body: Any) -> ServiceFault | None:
    """The service's error as one sentence, from any of the shapes it has used."""
    request_error = field(body, "RequestError", "requestError")
    exception = field(request_error, "ServiceException", "PolicyException")
    if isinstance(exception, Mapping):
        code = as_str(field(exception, "MessageId", "messageId"))
        text = as_str(field(exception, "Text", "text")) or "no description"
        variables = field(exception, "Variables", "variables")
        values = [str(v) for v in as_list(variables)]
        if isinstance(variables, str):
            values = [v.strip() for v in variables.split(",")] if "%2" in text else [variables]
        for index in range(len(values), 0, -1):  # %10 before %1
            text = text.replace(f"%{index}", values[index - 1])
        return ServiceFault(code=code, text=text)
    # OAuth servers answer RFC 6749 errors: {"error": "invalid_client", "error_description": ...}
    oauth_error = as_str(field(body, "error"))
    if oauth_error:
        description = as_str(field(body, "error_description"))
        return ServiceFault(
            code=None, text=f"{oauth_error}: {description}" if description else oauth_error
        )
    return None
