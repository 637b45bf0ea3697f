"""Bytes of real-world mail -> valid Unicode text, whatever charset a message claims.

The rules, used for headers, encoded words, parameters, file names and bodies:

- A declared charset is looked up through ``ALIASES`` first: names real mail uses and
  Python lacks (``iso-8859-8-i``, ``ks_c_5601-1987``, ``x-mac-roman``...), and the
  supersets mail clients decode with in practice (``gb2312`` -> GB18030, which holds
  every GBK character; ``iso-8859-1`` -> windows-1252; ``iso-2022-jp`` with the NEC and
  IBM extensions, through CP932).
- Then UTF-8 (RFC 6532: 8-bit header bytes are UTF-8), then the fallback the caller
  names (for a header: the message's declared charset), then windows-1252, where the
  five bytes it leaves undefined read as Latin-1. Every byte then decodes: U+FFFD only
  appears when a declared multi-byte charset holds bytes invalid in it and in UTF-8.
- No codec that can produce lone surrogates or unescape text (``unicode_escape``,
  ``utf-7``'s unpaired surrogates) reaches the output.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from connector.sdk.text import SURROGATE

# Lower-case label -> Python codec. Where WHATWG's Encoding Standard maps a label to a
# superset (what browsers and mail clients decode with), we follow it.
ALIASES = {
    **dict.fromkeys(
        (
            "iso-8859-8-i",
            "iso-8859-8-e",
            "iso_8859-8-i",
            "csiso88598i",
            "logical",
            "visual",
            "iso-ir-138",
        ),
        "iso8859_8",
    ),
    **dict.fromkeys(("iso-8859-6-i", "iso-8859-6-e", "csiso88596i", "csiso88596e"), "iso8859_6"),
    **dict.fromkeys(
        (
            "gb2312",
            "gb_2312",
            "gb_2312-80",
            "gbk",
            "x-gbk",
            "cp936",
            "ms936",
            "windows-936",
            "chinese",
            "csgb2312",
            "euc-cn",
            "x-euc-cn",
            "iso-ir-58",
            "gb18030",
        ),
        "gb18030",
    ),
    **dict.fromkeys(("big5", "big-5", "x-x-big5", "cn-big5", "csbig5", "big5-hkscs"), "big5hkscs"),
    **dict.fromkeys(
        (
            "ks_c_5601-1987",
            "ks_c_5601-1989",
            "ks_c_5601",
            "ksc5601",
            "ksc_5601",
            "korean",
            "euc-kr",
            "x-euc-kr",
            "windows-949",
            "cp949",
            "csksc56011987",
            "iso-ir-149",
            "csEUCKR".lower(),
        ),
        "cp949",
    ),
    **dict.fromkeys(("windows-874", "tis-620", "iso-8859-11", "dos-874", "x-windows-874"), "cp874"),
    **dict.fromkeys(
        (
            "shift_jis",
            "shift-jis",
            "sjis",
            "x-sjis",
            "ms_kanji",
            "windows-31j",
            "csshiftjis",
            "ms932",
            "cp932",
            "x-ms-cp932",
        ),
        "cp932",
    ),
    **dict.fromkeys(("euc-jp", "x-euc-jp", "eucjp", "cseucpkdfmtjapanese"), "euc_jis_2004"),
    **dict.fromkeys(
        (
            "iso-2022-jp",
            "csiso2022jp",
            "iso-2022-jp-1",
            "iso-2022-jp-ms",
            "cp50220",
            "cp50221",
            "cp50222",
        ),
        "iso2022_jp_ms",
    ),
    **dict.fromkeys(
        (
            "iso-8859-1",
            "iso8859-1",
            "iso_8859-1",
            "latin1",
            "latin-1",
            "l1",
            "cp819",
            "ibm819",
            "iso-ir-100",
            "csisolatin1",
            "windows-1252",
            "cp1252",
            "x-cp1252",
        ),
        "cp1252",
    ),
    **dict.fromkeys(("iso-8859-9", "latin5", "l5", "iso-ir-148", "windows-1254"), "cp1254"),
    **dict.fromkeys(
        ("utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8", "unicode-2-0-utf-8", "x-utf-8"),
        "utf_8",
    ),
    **dict.fromkeys(
        ("x-mac-roman", "macintosh", "mac", "x-mac", "csmacintosh", "macroman"), "mac_roman"
    ),
    **dict.fromkeys(("x-mac-cyrillic", "x-mac-ukrainian", "maccyrillic"), "mac_cyrillic"),
    **dict.fromkeys(("x-mac-ce", "x-mac-centraleurroman", "maccentraleurope"), "mac_latin2"),
    "x-mac-greek": "mac_greek",
    "x-mac-turkish": "mac_turkish",
    "x-mac-icelandic": "mac_iceland",
    "x-mac-croatian": "mac_croatian",
    "x-mac-romanian": "mac_romanian",
    "x-mac-arabic": "mac_arabic",
    "x-mac-farsi": "mac_farsi",
    "x-mac-japanese": "cp932",
    "x-mac-chinesesimp": "gb18030",
    "x-mac-chinesetrad": "big5hkscs",
    "x-mac-korean": "cp949",
    # Labels that say "nobody knows" (or ASCII, which 8-bit bytes contradict): decoded by
    # the fallback rules, UTF-8 first.
    **dict.fromkeys(
        (
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "iso646-us",
            "us",
            "csascii",
            "x-unknown",
            "unknown",
            "unknown-8bit",
            "x-user-defined",
            "default",
            "charset",
            "8bit",
            "7bit",
            "binary",
            "none",
            "x-binaryenc",
            "us-ascii-unknown",
        ),
        None,
    ),
}

# Codecs that are not charsets of text (they unescape or transform): never used.
_REFUSED = {
    "unicode-escape",
    "raw-unicode-escape",
    "punycode",
    "idna",
    "undefined",
    "unicode-internal",
    "string-escape",
    "mbcs",
    "oem",
}
# Codecs in which pure-ASCII bytes may still mean something else.
_NOT_ASCII_SAFE = re.compile(r"utf[-_]?(7|16|32)|iso2022|hz")

# windows-1252 leaves these bytes undefined; mail that has them means Latin-1.
_CP1252_HOLES = {0x81: "\x81", 0x8D: "\x8d", 0x8F: "\x8f", 0x90: "\x90", 0x9D: "\x9d"}


def _latin1_holes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    byte = error.object[error.start]
    return _CP1252_HOLES.get(byte, "\ufffd"), error.start + 1


codecs.register_error("imap-connector-cp1252", _latin1_holes)


@lru_cache(maxsize=256)
def codec(charset: str | None) -> str | None:
    """The Python codec for a declared charset name, or None when it is unknown or unusable."""
    if not charset or not isinstance(charset, str):
        return None
    label = charset.strip().strip("\"'").split("*", 1)[0].strip().lower()  # RFC 2231 language
    if label in ALIASES:
        return ALIASES[label]
    for candidate in (
        label,
        label[2:] if label.startswith("x-") else None,
        label.replace("windows-", "cp") if label.startswith("windows-") else None,
    ):
        if not candidate:
            continue
        try:
            info = codecs.lookup(candidate)
        except (LookupError, ValueError):
            continue
        if info.name in _REFUSED or not getattr(info, "_is_text_encoding", True):
            return None
        return info.name
    return None


def _strict(data: bytes, name: str) -> str | None:
    try:
        if name == "iso2022_jp_ms":
            return _iso2022_jp_ms(data)
        text = data.decode(name)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None
    if name.startswith("utf-7") or name.startswith("utf_7"):
        if SURROGATE.search(text):
            return None
    return text


def decode(data: bytes, charset: str | None = None, fallback: str | None = None) -> str:
    """Bytes -> text: the declared charset, else UTF-8, else ``fallback``, else windows-1252.

    Headers call it with no charset and the message's charset as ``fallback``
    (UTF-8 first, RFC 6532); bodies and encoded words with their declared charset.
    """
    name = codec(charset)
    if data.isascii() and (name is None or not _NOT_ASCII_SAFE.match(name)):
        return data.decode("ascii")
    if name is not None:
        text = _strict(data, name)
        if text is not None:
            return text
    if name != "utf_8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    other = codec(fallback)
    if other is not None and other not in (name, "utf_8"):
        text = _strict(data, other)
        if text is not None:
            return text
    if name is not None and name not in ("cp1252", "utf_8"):
        # A declared multi-byte charset with a few bad bytes: keep the rest of its text.
        try:
            text = data.decode("cp932" if name == "iso2022_jp_ms" else name, "replace")
            if not SURROGATE.search(text):
                return text
        except (LookupError, ValueError):
            pass
    return data.decode("cp1252", "imap-connector-cp1252")


def surrogates_to_text(text: str, fallback: str | None = None) -> str:
    """A str from the email package (raw 8-bit bytes kept as surrogate escapes) -> real text."""
    if not SURROGATE.search(text):
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return SURROGATE.sub("\ufffd", text)
    return decode(data, None, fallback)


# --- ISO-2022-JP as Japanese mailers write it ----------------------------------------------

_ESCAPES = {
    b"(B": "ascii",
    b"(J": "ascii",
    b"(I": "kana",
    b"$@": "jis",
    b"$B": "jis",
    b"(H": "ascii",
}


def _iso2022_jp_ms(data: bytes) -> str:
    """ISO-2022-JP including the NEC row 13 and IBM extensions (Microsoft's CP50220/50221).

    Python's iso2022_jp refuses those characters (№, ①, ㈱...), which Japanese mail
    carries all the time. Each JIS X 0208 pair is moved to its Shift_JIS position and
    the whole decoded as CP932, which holds the extensions at the same code points.
    """
    out = bytearray()
    mode = "ascii"
    i, end = 0, len(data)
    while i < end:
        byte = data[i]
        if byte == 0x1B:
            found = _ESCAPES.get(data[i + 1 : i + 3])
            if found is None:
                raise ValueError("unknown ISO-2022-JP escape")
            mode = found
            i += 3
            continue
        if byte == 0x0E:  # SO / SI: half-width katakana (CP50221)
            mode, i = "kana", i + 1
            continue
        if byte == 0x0F:
            mode, i = "ascii", i + 1
            continue
        if byte >= 0x80:
            raise ValueError("8-bit byte in ISO-2022-JP")
        if mode == "ascii" or byte < 0x21 or byte > 0x7E:
            out.append(byte)
            i += 1
        elif mode == "kana":
            out.append(byte + 0x80)
            i += 1
        else:
            if i + 1 >= end:
                raise ValueError("truncated ISO-2022-JP pair")
            j1, j2 = byte, data[i + 1]
            s1 = ((j1 - 0x21) >> 1) + 0x81
            if s1 > 0x9F:
                s1 += 0x40
            if j1 & 1:
                s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0)
            else:
                s2 = j2 + 0x7E
            out += bytes((s1, s2))
            i += 2
    return out.decode("cp932")
