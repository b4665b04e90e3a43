"""What the replies are given: a frozen record of settings and the templates, built once."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot.addresses import Contacts, normal
from mailbot.reply.quoting import header_value
from mailbot.reply.wordwrap import wordwrap

if TYPE_CHECKING:
    import jinja2

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _shipped_templates() -> Path:
    """The templates shipped with mailbot.

    An installed wheel carries them as package data (`mailbot/templates/replies`);
    in a source checkout (and its editable install) they are at the repository
    root (`templates/replies`), where AOG edits them without opening the package.
    """
    installed = _PACKAGE_DIR / "templates" / "replies"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "templates" / "replies"


SHIPPED_TEMPLATES = _shipped_templates()


@dataclass(frozen=True)
class ReplySettings:
    """Exactly the settings the replies read; built by the settings file's loader."""

    aog: str  # From and envelope sender of every mail, and the loop header's value
    aog_name: str
    maintainer: str  # To of failure mails, blind copy of completions
    no_reply: str  # Reply-To of completion mails
    own_addresses: frozenset[str]  # lower case; never copied on a reply
    message_id_domain: str
    loop_header: str  # marks a mail as the bot's own, so that it is never read as a request
    quote_max_bytes: int
    retention_days: int
    signature: str
    verdict_lines: Mapping[str, str]  # every verdict code but STAGE, and MALFORMED
    contacts: Contacts = field(default_factory=Contacts)  # addresses.arc_contacts
    max_recipients: int = 10  # of a verdict or malformed reply

    def verdict_line(self, code: str) -> str:
        """The first line of a reply: the verdict in the wording AOG chose."""
        return self.verdict_lines[code]

    def may_copy(self, address: str) -> bool:
        """Whether a reply may go to `address`: an ARC contact, or the maintainer.

        Never anyone else a request names (Reply-To, To, Cc): a reply quotes the
        request, and a mail to aog@ must not be a way to mail strangers.
        """
        return self.contacts.admits(address) or normal(address) == normal(self.maintainer)

    def may_receive_link(self, address: str) -> bool:
        """Whether `address` may have the download link of proprietary data as a blind
        copy: an ARC contact listed by address (not only by domain), or AOG's staff."""
        staff = {normal(self.maintainer), normal(self.aog)}
        return self.contacts.names(address) or normal(address) in staff


class Templates:
    """The reply templates of one directory (else the shipped ones), read by one Jinja2
    environment.

    Top-level variables are strict (a misspelt one fails loudly); a template
    that names the subject sets it with `{%- set subject = ... -%}`. Jinja2 is
    imported, and the environment made, when the first mail is rendered: most runs
    send none. The environment keeps each template compiled for the next mail.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @functools.cached_property
    def _environment(self) -> jinja2.Environment:
        import jinja2

        # A site's own directory need not hold every template: one it lacks (e.g. one
        # added by a newer mailbot) is the shipped one, not a mail the bot fails on.
        loaders = [jinja2.FileSystemLoader(str(d)) for d in dict.fromkeys(
            (self.directory, SHIPPED_TEMPLATES))]
        environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text mail, not HTML  # noqa: S701
            keep_trailing_newline=True,
        )
        environment.filters["wordwrap"] = jinja2.pass_environment(wordwrap)
        return environment

    def __repr__(self) -> str:
        return f"Templates({str(self.directory)!r})"

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """The body that template `name` renders."""
        return self._environment.get_template(name).render(context)

    def render_with_subject(self, name: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """The subject the template sets, on one line, and the body it renders."""
        module = self._environment.get_template(name).make_module(dict(context))
        subject = getattr(module, "subject", None)
        if not isinstance(subject, str) or not subject.strip():
            import jinja2

            raise jinja2.TemplateError(f"template {name} sets no subject")
        return header_value(subject), str(module)
