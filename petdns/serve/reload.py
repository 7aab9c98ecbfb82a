"""Live reload of the configuration file: poll it, check the new settings whole, then apply them.

The file is looked at every `interval` seconds (device, inode, mtime and size, so that an edit in
place, a rename over it and a Kubernetes ConfigMap update all count); with `load` and `watch` given,
a Corefile and the files it imports, read into the same settings values. A new file is read, merged
with the flags given on the command line (they still win) and handed to `apply`, which builds
everything it needs before it changes anything. Any error (YAML, an unknown key, a wrong type, a
bad address or network, an object file that no longer loads) is logged as one line naming the file
and the key, and the settings in force stay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from petdns.corefile.syntax import CorefileError
from petdns.schema.loader import LoadError
from petdns.serve.metrics import ReloadCounts
from petdns.settings import config_file
from petdns.settings.config_file import ConfigError
from petdns.settings.options import OptionError

log = logging.getLogger("petdns.reload")
Apply = Callable[[dict[str, Any]], None]
Load = Callable[[str], dict[str, Any]]
Watch = Callable[[str], object]


class Reloader:
    """Watches `path`; `apply(values)` takes merged values or raises to reject them."""

    def __init__(
        self,
        path: str,
        flags: Mapping[str, Any],
        apply: Apply,
        counts: ReloadCounts | None = None,
        interval: float = 1.0,
        *,
        load: Load = config_file.load,
        watch: Watch = config_file.fingerprint,
    ) -> None:
        self.path = path
        self.flags = dict(flags)
        self.apply = apply
        self.counts = counts or ReloadCounts()
        self.interval = interval
        self.load = load  # the YAML file, or a Corefile and its imports
        self.watch = watch
        self._seen = watch(path)

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.poll()

    def poll(self) -> bool | None:
        """Reload if the file changed: True applied, False rejected, None unchanged or missing."""
        seen = self.watch(self.path)
        if seen == self._seen:
            return None
        self._seen = seen
        if seen is None:
            log.warning("config %s is gone; keeping the settings in force", self.path)
            return None
        return self.reload()

    def reload(self) -> bool:
        """Read, check and apply the file now."""
        try:
            values = config_file.merge(self.load(self.path), self.flags)
            self.apply(values)
        except ConfigError as err:
            return self._reject(f"config {err}")
        except CorefileError as err:
            return self._reject(f"corefile {err}")
        except OptionError as err:
            source = "command line" if err.key in self.flags else self.path
            return self._reject(f"config {source}: {err.key}: {err.message}")
        except LoadError as err:
            return self._reject(f"config {self.path}: objects: {err}")
        except Exception:
            log.exception("config %s: applying it failed", self.path)
            self.counts.failed += 1
            return False
        self.counts.applied += 1
        return True

    def _reject(self, message: str) -> bool:
        log.error("%s; keeping the settings in force", message)
        self.counts.failed += 1
        return False
