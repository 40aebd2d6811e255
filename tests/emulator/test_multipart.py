"""Multipart forms as the emulator reads them (streamed part by part): the values and uploads any client
sends arrive intact, whatever the parts' headers, and a form the server cannot read is a clear 400."""
from __future__ import annotations

BOUNDARY = "b0undary-xyz"


def form(*parts: tuple[str, bytes]) -> bytes:
    """A raw multipart body from (part headers, part body): the odd forms no client library writes."""
    chunks = [f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + body + b"\r\n" for headers, body in parts]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def post(api, method: str, body: bytes, media_type: str = "multipart/form-data"):
    return api.post(method, content=body, headers={"Content-Type": f"{media_type}; boundary={BOUNDARY}"})


def field(name: str, value: str, extra: str = "") -> tuple[str, bytes]:
    return f'Content-Disposition: form-data; name="{name}"{extra}', value.encode()


def test_the_same_fields_in_every_call_keep_each_calls_own_values(api, control, token, user):
    documents = []
    for file_name, mime, data in (("a.csv", "text/csv", b"1,2\n"), ("b.bin", "application/x-thing", b"\x00\xff")):
        body = form(field("chat_id", str(user)), field("caption", file_name.upper()),
                    (f'Content-Disposition: form-data; name="document"; filename="{file_name}"\r\n'
                     f"Content-Type: {mime}", data))
        message = post(api, "sendDocument", body).json()["result"]
        documents.append(message["document"])
        assert message["caption"] == file_name.upper()
        assert control.file(token, message["document"]["file_id"]) == data
    assert [(d["file_name"], d["mime_type"], d["file_size"]) for d in documents] == [
        ("a.csv", "text/csv", 4), ("b.bin", "application/x-thing", 2)]


def test_parts_without_a_content_type_and_with_a_charset(api, user):
    body = form(field("chat_id", str(user)),
                ('Content-Disposition: form-data; name="caption"\r\nContent-Type: text/plain; charset=latin-1',
                 "café".encode("latin-1")),
                ('Content-Disposition: form-data; name="document"; filename="raw"', b"\x01\x02"))
    message = post(api, "sendDocument", body, media_type="Multipart/Form-Data").json()["result"]
    assert message["caption"] == "café"
    assert (message["document"]["file_name"], message["document"]["mime_type"]) == ("raw", "application/octet-stream")


def test_a_form_the_server_cannot_read_is_a_clear_400(api, user):
    nameless = post(api, "sendMessage", form(field("chat_id", str(user)), ("Content-Disposition: form-data", b"x")))
    nested = post(api, "sendMessage", form(field("chat_id", str(user)),
                                           ('Content-Disposition: form-data; name="text"\r\n'
                                            "Content-Type: multipart/mixed; boundary=inner", b"--inner--\r\n")))
    assert (nameless.status_code, nameless.json()["description"]) == (
        400, "Bad Request: can't parse multipart form: a part has no name")
    assert (nested.status_code, nested.json()["description"]) == (
        400, "Bad Request: can't parse multipart form: nested multipart parts are not supported")
