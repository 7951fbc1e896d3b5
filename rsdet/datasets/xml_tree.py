"""A minimal XML tree that remembers line numbers, so label errors can say ``file:line``.

``xml.etree`` drops source positions; VOC-style annotations are small, so a tiny expat
tree builder is enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from rsdet.datasets.errors import LabelError

__all__ = ["XmlNode", "parse_xml"]


@dataclass
class XmlNode:
    """One element: ``tag``, stripped ``text``, ``children`` and the ``line`` it starts on."""

    tag: str
    line: int
    children: list[XmlNode] = field(default_factory=list)
    text: str = ""

    def find(self, tag: str) -> XmlNode | None:
        """The first child named ``tag``, or None."""
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[XmlNode]:
        """All children named ``tag``, in document order."""
        return [c for c in self.children if c.tag == tag]

    def findtext(self, tag: str) -> str | None:
        """Text of the first child named ``tag``, or None when there is no such child."""
        child = self.find(tag)
        return None if child is None else child.text


def parse_xml(path: Path) -> XmlNode:
    """Parse ``path`` into :class:`XmlNode` s.

    Raises:
        LabelError: the file is not well-formed XML (message names the line).
    """
    parser = expat.ParserCreate()
    stack: list[XmlNode] = []
    texts: list[list[str]] = []
    root: list[XmlNode] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = XmlNode(tag, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(tag: str) -> None:
        stack.pop().text = "".join(texts.pop()).strip()

    def chars(data: str) -> None:
        if texts:
            texts[-1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(path.read_bytes(), True)
    except expat.ExpatError as err:
        raise LabelError(
            f"{path}:{err.lineno}: malformed XML ({expat.ErrorString(err.code)})"
        ) from None
    return root[0]
