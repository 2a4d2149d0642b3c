"""The resolver's view of the indexes: :class:`IndexFinder`, a :class:`wheelhouse.dists.Finder` over an
:class:`~wheelhouse.index.http.IndexClient`.

Contract: every file it offers has a name that is safe to write into the wheels folder and belongs to the
project asked for; anything else is skipped with a warning on the diagnostics channel (each once), so a hostile
index cannot plant files. Files no target can use are skipped unparsed and silently; files whose names no
installer would pick (``pytz-2004d.tar.gz``) are passed over as pip does, and so are old source distribution
names that only pip's split after the project name reads (``celery-3.1.26-1.tar.gz``), all summed up in one line
at ``-v``.
Metadata it returns names the same project and version as the file, or
:class:`~wheelhouse.index.errors.MetadataError` is raised; it comes from the index, or from a download of the
file itself under way when a caller said so (:meth:`IndexFinder.expect`).
Files are grouped by release from their names (:class:`~wheelhouse.releases.ReleaseFiles`); a listed file becomes
a DistFile only when its release is read and some target can use it, or to explain a gap; its index entry (a
:class:`~wheelhouse.index.pages.RemoteFile`) is built only for a download (:meth:`IndexFinder.remote_file`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from wheelhouse import _log
from wheelhouse._text import plural, redact_url
from wheelhouse.dists import (
    CoreMetadata,
    DistFile,
    DistKind,
    InvalidDistFilename,
    legacy_sdist_version,
    parse_core_metadata,
    parse_dist_filename,
    release_version,
    split_release,
    wheel_tags,
)
from wheelhouse.index.errors import MetadataError, MetadataMismatch
from wheelhouse.index.filenames import irrelevant, is_dist_filename, unsafe_filename
from wheelhouse.index.once import OnceCache
from wheelhouse.index.pages import Brief, Listing, RemoteFile
from wheelhouse.releases import ReleaseFiles

if TYPE_CHECKING:
    from wheelhouse.index.http import IndexClient
    from wheelhouse.targets import Target

__all__ = ["IndexFinder", "import_readers"]


def import_readers() -> None:
    """Import what reading project pages and wheels' metadata needs (msgspec, zipfile, the email parser).

    Each is imported lazily, so that a run that reads neither never pays for it. A run about to read many calls
    this while its workers wait for their first answers: the first worker to need a module would otherwise import
    it holding the module's import lock, and every other worker that needs it would wait, while the interpreter
    lock is shared by all of them. Call it from a thread of its own, not the main one: an import that Ctrl-C
    interrupts can leave its module's lock taken.
    """
    # zipfile decodes most member names as cp437, whose codec is imported at the first such name.
    for module in ("email.parser", "zipfile", "encodings.cp437", "wheelhouse.index._typed_page"):
        importlib.import_module(module)


class IndexFinder:
    """A :class:`wheelhouse.dists.Finder` over an :class:`IndexClient`.

    File names that could escape the wheels folder or that belong to another project are skipped with a
    warning (each message once), so a hostile index cannot plant files.
    """

    def __init__(self, client: IndexClient, targets: Sequence[Target] = ()) -> None:
        self.client = client
        # With targets, wheels none of them can use are set aside unparsed: a long-lived project's page lists
        # thousands (every Python, architecture and libc), and only an explanation of a gap needs them.
        self.targets = tuple(targets)
        self._usable_triples: dict[str, bool] = {}
        self._aside: dict[NormalizedName, tuple[Listing, list[int]]] = {}
        self._all: dict[NormalizedName, tuple[DistFile, ...]] = {}
        self._lock = threading.Lock()
        self._said: set[str] = set()
        # Per file location, its entry in its project's listing (built when the file is downloaded).
        self._remote: dict[str, tuple[Listing, int]] = {}
        # Built once per project however many threads ask at the same moment (the resolver and the speculative
        # workers): building a large project's entries is the CPU every other thread waits for.
        self._files: OnceCache[NormalizedName, ReleaseFiles] = OnceCache()
        # Parsed once: the prefetcher and every target's resolver ask for the same files' metadata.
        self._metadata: dict[str, CoreMetadata] = {}
        # Per file location: where its metadata is coming from instead of the index (see expect()).
        self._expected: dict[str, Callable[[], CoreMetadata | None]] = {}

    def _skip(self, message: str) -> None:
        """Say why a listed file is skipped, once per finder (a page is read once, but its project may be
        asked for again through another finder)."""
        with self._lock:
            if message in self._said:
                return
            self._said.add(message)
        _log.warning(message)

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Every usable wheel and sdist the indexes list for ``name`` (yanked ones included, marked), as a
        :class:`~wheelhouse.releases.ReleaseFiles`: each release's files are built when first asked for.

        Computed once per project: every target and the speculative prefetcher share the answer. Wheels for
        Windows or macOS only, and formats wheelhouse never installs (eggs, installers), are left out unparsed.
        """
        name = canonicalize_name(name)
        return self._files.get(name, lambda: self._build_files(name))

    def _build_files(self, name: NormalizedName) -> ReleaseFiles:
        listing = self.client.project_listing(name)
        relevant = listing.relevant
        names = listing.filenames
        # A name a plain reading cannot place (another project's, an old format, a path) is built now, so that
        # what is wrong with it is said whether or not its release is ever looked at.
        odd: list[int] = []
        # Grouped by how the name splits (see split_release, inlined: this loop sees every file of the page).
        split: dict[tuple[DistKind, str, str], list[int]] = {}
        suspect = listing.suspect
        for i, filename in enumerate(names):
            if not relevant[i] and irrelevant(filename):
                continue
            key: tuple[DistKind, str, str] | None
            if suspect and unsafe_filename(filename):
                key = None
            elif filename.endswith(".whl"):
                project, _, rest = filename.partition("-")
                key = ("wheel", project, rest.partition("-")[0])
            else:
                key = split_release(filename)
            if key is None:
                odd.append(i)
                continue
            group = split.get(key)
            if group is None:
                split[key] = [i]
            else:
                group.append(i)
        pending: dict[tuple[DistKind, Version], list[int]] = {}
        for (kind, project, text), positions in split.items():
            version = release_version(kind, project, text, name)
            if version is None:
                odd.extend(positions)
            else:
                pending.setdefault((kind, version), []).extend(positions)
        for positions in pending.values():
            positions.sort()  # "1.0" and "1.0.0" are one release
        with self._lock:
            self._aside[name] = (listing, [])
        return ReleaseFiles(
            pending, self._make(name, listing, sorted(odd)), lambda at: self._make(name, listing, at), listing.yanked
        )

    def _make(self, name: NormalizedName, listing: Listing, positions: Sequence[int]) -> list[tuple[int, DistFile]]:
        """The files listed at ``positions`` that are usable distributions of ``name``, with their positions;
        wheels no target can use are set aside unparsed (only an explanation of a gap needs them)."""
        found: list[tuple[int, DistFile]] = []
        # Where each file's index entry is: built only for the files someone downloads (remote_file()).
        remotes: dict[str, tuple[Listing, int]] = {}
        aside: list[int] = []
        unusable: list[str] = []
        for i in positions:
            filename = listing.filenames[i]
            if self.targets and filename.endswith(".whl") and not self._some_target_can_use(filename):
                aside.append(i)
                continue
            dist = self._dist_file(name, filename, listing.brief(i), unusable)
            if dist is None:
                continue
            found.append((i, dist))
            remotes[dist.location] = (listing, i)
        if unusable:
            # Old releases with names no installer parses (pytz-2004d.tar.gz): pip passes over them in silence,
            # and one line per file drowned everything else a run says.
            _log.info(
                f"{name}: passed over {plural(len(unusable), 'listed file')} whose names wheelhouse does not read"
                f" as this project's (such as {unusable[0]!r})",
                once=f"passed-over:{name}",  # several finders (and threads) may read the same page
            )
        with self._lock:
            self._remote.update(remotes)
            self._aside[name][1].extend(aside)
        return found

    def all_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """:meth:`files`, plus the wheels no target can use (parsed now): what explains a gap."""
        name = canonicalize_name(name)
        usable = tuple(self.files(name))  # every release built: the wheels set aside are then all known
        with self._lock:
            cached = self._all.get(name)
            listing, indices = self._aside.get(name, (Listing(), []))
            indices = sorted(indices)
        if cached is not None:
            return cached
        aside = [(listing.filenames[i], listing.brief(i), i) for i in indices]
        extra = [d for d in (self._dist_file(name, f, brief, []) for f, brief, _ in aside) if d is not None]
        result = (*usable, *extra)
        with self._lock:
            self._remote.update((brief[0], (listing, i)) for _, brief, i in aside)
            self._all[name] = result
        return result

    def _some_target_can_use(self, filename: str) -> bool:
        # Keyed by the name's last three parts: a page repeats a few dozen tag triples over thousands of wheels.
        cut = filename.rfind("-", 0, filename.rfind("-", 0, filename.rfind("-")))
        key = filename[cut + 1 :]
        usable = self._usable_triples.get(key)
        if usable is None:
            tags = wheel_tags(filename)
            # A malformed name: the full parse says what is wrong with it.
            usable = tags is None or any(t.best_tag(tags) is not None for t in self.targets)
            self._usable_triples[key] = usable
        return usable

    def _dist_file(
        self,
        name: NormalizedName,
        filename: str,
        brief: Brief,
        unusable: list[str],
    ) -> DistFile | None:
        """The listed file ``filename`` as a DistFile of project ``name``, or None when its name is unusable;
        ``brief`` is what the listing says of it (:meth:`~wheelhouse.index.pages.Listing.brief`).

        A name that could escape the wheels folder, or that belongs to another project, is skipped with a
        warning; a name no installer would pick (not a distribution, or not parseable: ``pytz-2004d.tar.gz``),
        or an old sdist name that belongs to the project only as pip splits it (``celery-3.1.26-1.tar.gz``), is
        added to ``unusable`` and detailed only at debug level.
        """
        url, sha256, requires_python, yanked, size, index_url = brief
        reason = unsafe_filename(filename)
        if reason is not None:
            self._skip(f"skipped {filename!r} listed by {redact_url(index_url or url)}: {reason}")
            return None
        if not is_dist_filename(filename):
            unusable.append(filename)
            _log.debug(f"passed over {filename!r}: not a wheel or a source distribution")
            return None
        try:
            project, version, kind, tags, build = parse_dist_filename(filename)
        except InvalidDistFilename as exc:
            unusable.append(filename)
            _log.debug(f"passed over {filename!r}: {exc}")
            return None
        if project != name:
            legacy = legacy_sdist_version(filename, name) if kind == "sdist" else None
            if legacy is not None:
                # An old release's name, not a hostile one: pip would read it as this project's. The folder reads
                # names at the last dash, and would take the file for another project's.
                unusable.append(filename)
                _log.debug(f"passed over {filename!r}: an old-style name (pip reads it as {name} {legacy})")
                return None
            self._skip(
                f"skipped {filename!r} listed by {redact_url(index_url or url)} for {name}: it belongs to {project}"
            )
            return None
        return DistFile.remote(
            filename,
            project,
            version,
            kind,
            tags,
            url,
            build=build,
            requires_python=requires_python,
            yanked=yanked,
            sha256=sha256,
            size=size,
        )

    def remote_file(self, dist: DistFile) -> RemoteFile:
        """The index entry behind ``dist`` (for downloading it); ``dist`` must come from :meth:`files`."""
        with self._lock:
            where = self._remote.get(dist.location)
        if where is None:
            raise KeyError(f"{dist.filename} was not listed by this finder")
        listing, i = where
        return listing.file(i)

    def metadata(self, dist: DistFile) -> CoreMetadata:
        """The core metadata of the wheel ``dist``; checks that it names the same project and version.

        Source distributions are refused with :class:`MetadataError`: their metadata needs a build.
        """
        if dist.kind == "sdist":
            raise MetadataError(
                f"{dist.filename} is a source distribution; its metadata cannot be read from the index",
                hint="source distributions need a build to reveal their metadata",
            )
        with self._lock:
            cached = self._metadata.get(dist.location)
            expected = self._expected.get(dist.location)
        if cached is not None:
            return cached
        meta = expected() if expected is not None else None
        if meta is None:
            remote = self.remote_file(dist)
            data = self.client.metadata(remote)
            source = f"METADATA of {dist.filename}"
            try:
                meta = parse_core_metadata(data, source=source)
            except ValueError as exc:
                raise MetadataMismatch(f"{source} from {redact_url(dist.location)} is unusable: {exc}") from None
        self._check_names(dist, meta)
        with self._lock:
            self._metadata[dist.location] = meta
        return meta

    def expect(self, dist: DistFile, source: Callable[[], CoreMetadata | None]) -> None:
        """Take ``dist``'s metadata from ``source`` rather than from the index: the wheel itself is being
        downloaded (and verified against the index's sha256), and reading it there spares the requests.

        :meth:`metadata` waits for ``source``; when it answers None (the download failed) the index is asked.
        """
        with self._lock:
            self._expected.setdefault(dist.location, source)

    @staticmethod
    def _check_names(dist: DistFile, meta: CoreMetadata) -> None:
        source = f"METADATA of {dist.filename}"
        try:
            same_version = Version(meta.version) == dist.version
        except InvalidVersion as exc:
            raise MetadataMismatch(f"{source} from {redact_url(dist.location)} is unusable: {exc}") from None
        if canonicalize_name(meta.name) != dist.name or not same_version:
            raise MetadataMismatch(
                f"{source} from {redact_url(dist.location)} says {meta.name} {meta.version}, "
                f"not {dist.name} {dist.version}"
            )
