"""The glibc a binary wheel built on this machine really needs, and a tag that says so.

A local build is tagged ``linux_<arch>``, which states no libc at all: pip, and the resolver's tag rules, accept
it for every target of that architecture, including a glibc older than the one it links against (it then fails
at import time in the image) and musl (it does not load at all). So a binary built here is judged by its ELF
files: the newest ``GLIBC_2.X`` symbol version they need and the shared libraries they link. When they link only
what every manylinux system provides (PEP 600's policy list) or what the wheel carries itself, the wheel is
retagged ``manylinux_2_X_<arch>`` (never below the architecture's oldest manylinux), and the resolver then
judges it against each target's glibc like any downloaded wheel. ``auditwheel repair``, when it is installed,
does the same and also copies other libraries into the wheel; it is tried first for wheels that link more.

Contract: reading is bounded and never executes anything; a wheel that cannot be judged (an ELF file too large
or malformed, a library outside the policy with no ``auditwheel``, a musl machine) keeps its ``linux_`` tag and
the caller keeps treating it as serving only targets that match this machine.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ElfNeeds", "elf_needs", "manylinux_tag", "retag"]

# PEP 600 / auditwheel's manylinux policies: libraries every manylinux system has.
_POLICY_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libnsl.so.1",
        "libcrypt.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libX11.so.6",
        "libXext.so.6",
        "libXrender.so.1",
        "libICE.so.6",
        "libSM.so.6",
        "libGL.so.1",
        "libgobject-2.0.so.0",
        "libgthread-2.0.so.0",
        "libglib-2.0.so.0",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "ld-linux.so.2",
        "ld64.so.2",
        "ld64.so.1",
        "ld-linux-armhf.so.3",
    }
)
_OLDEST = {"x86_64": 5, "i686": 5}
_MAX_ELF_BYTES = 512 * 1024 * 1024
_SHT_DYNAMIC = 6
_SHT_GNU_VERNEED = 0x6FFFFFFE
_DT_NEEDED = 1
_GLIBC = re.compile(r"^GLIBC_2\.(\d+)$")


@dataclass(frozen=True)
class ElfNeeds:
    """What the ELF files of a wheel need: the newest glibc 2.X (None: no glibc symbol versions), the libraries
    outside the manylinux policy and the wheel itself, and whether any file could not be read."""

    glibc_minor: int | None
    foreign_libraries: tuple[str, ...]
    elf_files: int
    unreadable: tuple[str, ...] = ()

    @property
    def retaggable(self) -> bool:
        return not self.foreign_libraries and not self.unreadable


def elf_needs(wheel: Path) -> ElfNeeds:
    """Read every ELF file in ``wheel``: the glibc symbol versions and the libraries it links."""
    newest: int | None = None
    foreign: set[str] = set()
    unreadable: list[str] = []
    count = 0
    with zipfile.ZipFile(wheel) as zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        carried = {i.filename.rsplit("/", 1)[-1] for i in members}
        for info in members:
            with zf.open(info) as fh:
                if fh.read(4) != b"\x7fELF":
                    continue
            count += 1
            if info.file_size > _MAX_ELF_BYTES:
                unreadable.append(info.filename)
                continue
            try:
                minor, needed = _read_elf(zf.read(info))
            except (struct.error, ValueError, IndexError):
                unreadable.append(info.filename)
                continue
            if minor is not None:
                newest = minor if newest is None else max(newest, minor)
            foreign.update(lib for lib in needed if lib not in _POLICY_LIBRARIES and lib not in carried)
    return ElfNeeds(newest, tuple(sorted(foreign)), count, tuple(unreadable))


def manylinux_tag(needs: ElfNeeds, arch: str) -> str:
    """``manylinux_2_X_<arch>`` for the glibc ``needs`` states, never below the architecture's oldest."""
    oldest = _OLDEST.get(arch, 17)
    return f"manylinux_2_{max(needs.glibc_minor or 0, oldest)}_{arch}"


def _read_elf(data: bytes) -> tuple[int | None, list[str]]:
    if data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError("not an ELF file this reader knows")
    wide = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if wide:
        shoff, shentsize, shnum = (
            struct.unpack_from(end + "Q", data, 0x28)[0],
            *struct.unpack_from(end + "HH", data, 0x3A),
        )
        section = end + "IIQQQQIIQQ"
    else:
        shoff, shentsize, shnum = (
            struct.unpack_from(end + "I", data, 0x20)[0],
            *struct.unpack_from(end + "HH", data, 0x2E),
        )
        section = end + "IIIIIIIIII"
    sections = []
    for n in range(shnum):
        fields = struct.unpack_from(section, data, shoff + n * shentsize)
        # (type, offset, size, link, info)
        sections.append((fields[1], fields[4], fields[5], fields[6], fields[7]))

    def string(table: int, offset: int) -> str:
        start = sections[table][1] + offset
        stop = data.index(b"\0", start)
        return data[start:stop].decode("ascii", errors="replace")

    newest: int | None = None
    needed: list[str] = []
    for kind, offset, size, link, info in sections:
        if kind == _SHT_GNU_VERNEED:
            entry = offset
            for _ in range(info):
                _ver, cnt, _file, aux, nxt = struct.unpack_from(end + "HHIII", data, entry)
                aux_at = entry + aux
                for _ in range(cnt):
                    _hash, _flags, _other, name, aux_next = struct.unpack_from(end + "IHHII", data, aux_at)
                    match = _GLIBC.match(string(link, name))
                    if match:
                        minor = int(match.group(1))
                        newest = minor if newest is None else max(newest, minor)
                    if not aux_next:
                        break
                    aux_at += aux_next
                if not nxt:
                    break
                entry += nxt
        elif kind == _SHT_DYNAMIC:
            fmt, width = (end + "qQ", 16) if wide else (end + "iI", 8)
            for at in range(offset, offset + size, width):
                tag, value = struct.unpack_from(fmt, data, at)
                if tag == 0:
                    break
                if tag == _DT_NEEDED:
                    needed.append(string(link, value))
    return newest, needed


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def retag(wheel: Path, platform: str, out_dir: Path) -> Path:
    """A copy of ``wheel`` in ``out_dir`` whose ``linux_<arch>`` platform tags are ``platform``.

    The file name, the ``Tag`` lines of ``WHEEL`` and its line in ``RECORD`` change; nothing else does.
    """
    stem = wheel.name.removesuffix(".whl")
    parts = stem.split("-")
    platforms = [platform if p.startswith("linux_") else p for p in parts[-1].split(".")]
    parts[-1] = ".".join(dict.fromkeys(platforms))
    target = out_dir / ("-".join(parts) + ".whl")
    with zipfile.ZipFile(wheel) as src:
        infos = src.infolist()
        wheel_member = next(i.filename for i in infos if re.fullmatch(r"[^/]+\.dist-info/WHEEL", i.filename))
        record_member = wheel_member.removesuffix("WHEEL") + "RECORD"
        lines = src.read(wheel_member).decode("utf-8").splitlines()
        tags: list[str] = []
        for line in lines:
            if line.startswith("Tag:"):
                py, abi, plat = line.split(":", 1)[1].strip().split("-")
                tags.append(f"Tag: {py}-{abi}-{platform if plat.startswith('linux_') else plat}")
        kept = [line for line in lines if not line.startswith("Tag:")]
        new_wheel = ("\n".join([*kept, *dict.fromkeys(tags)]) + "\n").encode("utf-8")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in infos:
                if info.filename == wheel_member:
                    dst.writestr(info, new_wheel)
                elif info.filename == record_member:
                    rows = src.read(info).decode("utf-8").splitlines()
                    rows = [
                        f"{wheel_member},{_record_hash(new_wheel)},{len(new_wheel)}"
                        if row.split(",", 1)[0] == wheel_member
                        else row
                        for row in rows
                    ]
                    dst.writestr(info, "\n".join(rows) + "\n")
                else:
                    dst.writestr(info, src.read(info))
    return target
