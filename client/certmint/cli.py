"""The ``certmint`` command: click commands and what they print, nothing else.

The work is done in :mod:`certmint.issuance` (API + files), :mod:`certmint.keys`
and :mod:`certmint.mkconfig`; dependencies come from
:class:`certmint.context.Services` in click's ``obj``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any, NoReturn

import click
from cryptography import x509

from certmint import __version__
from certmint.api import ApiClient, JsonObject
from certmint.config import Config, save_settings
from certmint.context import Services
from certmint.errors import (
    EXIT_ALREADY_CURRENT,
    EXIT_ERROR,
    EXIT_KEY_MISMATCH,
    EXIT_NOT_DOWNLOADED,
    EXIT_OK,
    ApiError,
    ClientError,
    LocalFileError,
    NotDownloaded,
)
from certmint.files import CERTIFICATE_FILE_MODE, Ownership, atomic_write
from certmint.formats import CertificatePaths, file_stem
from certmint.issuance import (
    DownloadOptions,
    DownloadResult,
    certificate_name,
    certificate_names,
    create_key,
    download,
    read_key,
    stage_rekey_key,
    submit_csr,
    wait_until_issued,
)
from certmint.keys import KEY_TYPES, build_csr, public_key_sha256
from certmint.mkconfig import TEMPLATES, render

EPILOG = """\b
Exit codes:
   0  success (download: files changed; errors for other names
      are still printed)
   1  error (message on stderr)
   2  usage error
  10  download: nothing was written (files already current)
  12  ended without downloading a certificate (--no-wait, timeout,
      not issued yet); run certmint download NAME later
  13  the certificate from the server does not match the local key

\b
Files, for a certificate NAME (a wildcard *.example.com uses the stem
_wildcard.example.com, which no real hostname can collide with):
  key_directory:  NAME.key, NAME.key.new (during rekey),
                  NAME.combined.pem and NAME.p12 (on request)
  cert_directory: NAME.crt, NAME.chain.crt, NAME.chained.crt
"""

WILDCARD_NOTE = (
    "A wildcard *.example.com is stored as _wildcard.example.com.key and so on."
)

_DEFAULT_TIMEOUT_SECONDS = 600


class CertmintGroup(click.Group):
    """A click group that turns :class:`ClientError` into a message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as error:
            click.echo(f"error: {error.user_message()}", err=True)
            ctx.exit(error.exit_code)


def _services(ctx: click.Context) -> Services:
    services = ctx.find_object(Services)
    if services is None:  # pragma: no cover - the group always sets it.
        raise click.UsageError("internal: no services object")
    return services


pass_services = click.make_pass_decorator(Services, ensure=True)


@click.group(
    cls=CertmintGroup,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="CERTMINT_CONFIG",
    help="Read (and for signup/link, write) only this config file.",
)
@click.option(
    "--verbose", is_flag=True, help="Log each API request (method, URL, status)."
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Buy, download and manage certificates from certmint."""
    services = ctx.ensure_object(Services)
    services.config_path = config_path
    ctx.call_on_close(services.close)
    if verbose:
        _enable_request_log(ctx)


def _enable_request_log(ctx: click.Context) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("certmint: %(message)s"))
    log = logging.getLogger("certmint")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    def remove() -> None:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)

    ctx.call_on_close(remove)


# Account commands.


def _read_credentials(
    email: str | None, password_stdin: bool, *, confirm: bool
) -> tuple[str, str]:
    if password_stdin:
        if not email:
            raise click.UsageError("--password-stdin needs --email.")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("no password on standard input.")
        return email, password
    email = email or click.prompt("Email")
    password = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return str(email), str(password)


def _store_new_api_key(
    services: Services, api: ApiClient, session: JsonObject, email: str, verb: str
) -> None:
    config = services.config()
    token = session.get("session", {}).get("token")
    if not isinstance(token, str):
        raise ApiError("invalid_response", "The server sent no session token.", 201)
    key_name = f"certmint CLI on {services.hostname()}"
    try:
        created = api.create_api_key(key_name, token)
        secret = created.get("key")
        if not isinstance(secret, str):
            raise ApiError("invalid_response", "The server sent no API key.", 201)
        settings = {"api_key": secret, "api_url": config.api_url}
        if config.ca_bundle is not None:
            # The bundle that let us trust this server must outlive the shell
            # that set CERTMINT_CA_BUNDLE, or the next command cannot connect.
            settings["ca_bundle"] = str(Path(config.ca_bundle).resolve())
        save_settings(config.user_file, settings)
    finally:
        try:
            api.delete_current_session(token)
        except ClientError as error:
            click.echo(
                f"warning: could not sign the session out: {error.user_message()}",
                err=True,
            )
    click.echo(f"{verb} as {email}.")
    click.echo(f'Created the API key "{key_name}" and saved it in {config.user_file}.')


def _credential_options(command: Any) -> Any:
    """``--email`` and ``--password-stdin``, shared by signup and link."""
    command = click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of standard input.",
    )(command)
    return click.option("--email", help="The account's email address (else prompted).")(
        command
    )


@cli.command()
@_credential_options
@pass_services
def signup(services: Services, email: str | None, password_stdin: bool) -> None:
    """Create an account and store an API key for this machine."""
    email, password = _read_credentials(email, password_stdin, confirm=True)
    api = services.api()
    session = api.create_account(email, password)
    _store_new_api_key(services, api, session, email, "Signed up")


@cli.command(short_help="Sign in and store an API key for this machine.")
@_credential_options
@pass_services
def link(services: Services, email: str | None, password_stdin: bool) -> None:
    """Sign in to an existing account and store an API key for this machine."""
    email, password = _read_credentials(email, password_stdin, confirm=False)
    api = services.api()
    session = api.create_session(email, password)
    _store_new_api_key(services, api, session, email, "Signed in")


# Certificate commands.


def _paths(config: Config, name: str) -> CertificatePaths:
    return CertificatePaths.for_name(name, config.key_directory, config.cert_directory)


def _progress(services: Services, name: str) -> Any:
    if not services.show_progress():
        return None

    def report(waited: float) -> None:
        click.echo(
            f"\rwaiting for {name} to be issued ... {int(waited)} s", err=True, nl=False
        )

    return report


def _wait_and_download(
    services: Services,
    name: str,
    instance: JsonObject,
    *,
    no_wait: bool,
    timeout: int,
    options: DownloadOptions,
) -> None:
    if no_wait:
        raise NotDownloaded(
            f"no certificate downloaded yet; run certmint download {name} later"
        )
    progress = _progress(services, name)
    try:
        wait_until_issued(
            services.api(),
            name,
            instance,
            timeout=timeout,
            clock=services.clock,
            sleep=services.sleep,
            progress=progress,
        )
    finally:
        if progress is not None:
            click.echo("", err=True)
    paths = _paths(services.config(), name)
    download(services.api(), name, paths, options)
    _print_written(paths, options)


def _print_written(paths: CertificatePaths, options: DownloadOptions) -> None:
    written = [paths.certificate, paths.chain, paths.chained]
    if options.combined or paths.combined.exists():
        written.append(paths.combined)
    if options.pkcs12 or paths.pkcs12.exists():
        written.append(paths.pkcs12)
    for path in written:
        click.echo(f"  {path}")


def _wait_options(function: Any) -> Any:
    function = click.option(
        "--p12", "pkcs12", is_flag=True, help="Also write NAME.p12 (no password)."
    )(function)
    function = click.option(
        "--combined", is_flag=True, help="Also write NAME.combined.pem (key + chain)."
    )(function)
    function = click.option(
        "--timeout",
        type=click.IntRange(min=0),
        default=_DEFAULT_TIMEOUT_SECONDS,
        show_default=True,
        help="Seconds to wait for issuance.",
    )(function)
    return click.option(
        "--no-wait", is_flag=True, help="Do not wait for issuance (exit 12)."
    )(function)


def _refuse_existing_key(
    api: ApiClient, config: Config, names: tuple[str, ...], name: str | None
) -> None:
    # Best effort before the certificate is created: the server's
    # normalization is the truth, and the O_EXCL creation of the key is what
    # really protects an existing key.
    guess = (name or names[0]).lower().removesuffix(".")
    try:
        key = _paths(config, guess).key
    except ClientError:
        return
    if not os.path.lexists(key):  # a dangling symlink counts as "there"
        return
    try:
        api.get_certificate(guess)
    except ApiError as error:
        if error.code != "certificate_not_found":
            raise
        raise LocalFileError(
            f"{key} already exists but no certificate {guess} does; move the key "
            f"away first"
        ) from error
    raise LocalFileError(
        f"{key} already exists; use certmint renew, rekey or download for {guess}"
    )


@cli.command(epilog=WILDCARD_NOTE)
@click.argument("names", nargs=-1, required=True)
@click.option("--name", "name", help="Name of the certificate (default: first name).")
@click.option(
    "--key-type",
    type=click.Choice(KEY_TYPES),
    help="Type of the new private key (default: key_type in the config).",
)
@click.option("--no-auto-renew", is_flag=True, help="Do not renew automatically.")
@_wait_options
@pass_services
def buy(
    services: Services,
    names: tuple[str, ...],
    name: str | None,
    key_type: str | None,
    no_auto_renew: bool,
    no_wait: bool,
    timeout: int,
    combined: bool,
    pkcs12: bool,
) -> None:
    """Get a new certificate for NAMES, with a new key made here.

    Writes NAME.key (0600), then waits for issuance and writes NAME.crt,
    NAME.chain.crt and NAME.chained.crt.
    """
    config = services.config()
    api = services.api()
    _refuse_existing_key(api, config, names, name)

    try:
        certificate = api.create_certificate(list(names), name, not no_auto_renew)
    except ApiError as error:
        if error.code != "certificate_exists":
            raise
        raise ClientError(
            f"{error.message} There is no local key for it here; run certmint "
            f"rekey to get it with a new key."
        ) from error
    cert_name = certificate_name(certificate)
    cert_names = certificate_names(certificate)
    paths = _paths(config, cert_name)

    try:
        key = create_key(paths.key, key_type or config.key_type)
    except LocalFileError as error:
        raise LocalFileError(
            f"{error.message}; the certificate {cert_name} was created without a "
            f"certificate request: run certmint rekey {cert_name}"
        ) from error
    click.echo(f"Created the private key {paths.key}.")
    instance = submit_csr(api, cert_name, key, cert_names)
    click.echo(f"Requested a certificate for {', '.join(cert_names)}.")
    _wait_and_download(
        services,
        cert_name,
        instance,
        no_wait=no_wait,
        timeout=timeout,
        options=DownloadOptions(combined=combined, pkcs12=pkcs12),
    )
    click.echo(f"Installed the certificate {cert_name}.")


@cli.command(name="download", epilog=WILDCARD_NOTE)
@click.argument("names", nargs=-1)
@click.option("--all", "all_certificates", is_flag=True, help="Every certificate.")
@click.option("--combined", is_flag=True, help="Also write NAME.combined.pem.")
@click.option("--p12", "pkcs12", is_flag=True, help="Also write NAME.p12.")
@click.pass_context
def download_command(
    ctx: click.Context,
    names: tuple[str, ...],
    all_certificates: bool,
    combined: bool,
    pkcs12: bool,
) -> None:
    """Install the current certificate of each NAME, if it changed.

    Exits 0 if any files changed (errors for other names are still printed),
    10 if nothing was written, and otherwise with the gravest failure's code
    (13, then 1, then 12).
    """
    if bool(names) == all_certificates:
        raise click.UsageError("Give certificate names or --all, not both or neither.")
    services = _services(ctx)
    api = services.api()
    config = services.config()
    options = DownloadOptions(combined=combined, pkcs12=pkcs12)

    certificates, failures = _certificates_to_download(api, names, all_certificates)

    results: list[DownloadResult] = []
    for certificate in certificates:
        try:
            result = _download_one(
                api, config, certificate, options, skip_without_current=all_certificates
            )
        except ClientError as error:
            click.echo(f"error: {error.user_message()}", err=True)
            failures.append(error.exit_code)
            continue
        if result is not None:
            results.append(result)

    ctx.exit(_download_exit_code(results, failures))


def _certificates_to_download(
    api: ApiClient, names: tuple[str, ...], all_certificates: bool
) -> tuple[list[JsonObject], list[int]]:
    """Fetch what ``download`` works on: every certificate, or each of ``names``.

    Returns the certificates found and the exit codes of the names that could
    not be fetched, each already reported on stderr; the download goes on for
    the others. A failure to list every certificate raises ClientError.
    """
    if all_certificates:
        return api.list_certificates(), []
    certificates: list[JsonObject] = []
    failures: list[int] = []
    for requested in names:
        try:
            certificates.append(api.get_certificate(requested))
        except ClientError as error:
            click.echo(f"error: {requested}: {error.user_message()}", err=True)
            failures.append(error.exit_code)
    return certificates, failures


def _download_one(
    api: ApiClient,
    config: Config,
    certificate: JsonObject,
    options: DownloadOptions,
    *,
    skip_without_current: bool,
) -> DownloadResult | None:
    """Install one certificate's current files and say what happened.

    Returns None when it has no current certificate and
    ``skip_without_current`` is set (``--all``: nothing to do for it); raises
    NotDownloaded in that case otherwise, and ClientError on any failure.
    """
    name = certificate_name(certificate)
    if certificate.get("current") is None:
        if skip_without_current:
            click.echo(f"{name}: no issued, unrevoked certificate, skipped")
            return None
        raise NotDownloaded(f"{name} has no issued, unrevoked certificate to download")
    result = download(api, name, _paths(config, name), options)
    if result is DownloadResult.CHANGED:
        click.echo(f"{name}: installed new files")
    else:
        click.echo(f"{name}: already current")
    return result


def _download_exit_code(results: list[DownloadResult], failures: list[int]) -> int:
    """0 if any file changed, else the gravest failure, else 10.

    Changes win: `certmint download --all && reload` must reload whenever a
    file changed, or the next run finds the files current and the server
    keeps the old certificate. The failures are on stderr either way.
    """
    if any(result is DownloadResult.CHANGED for result in results):
        return EXIT_OK
    for code in (EXIT_KEY_MISMATCH, EXIT_ERROR, EXIT_NOT_DOWNLOADED):
        if code in failures:
            return code
    if failures:
        return EXIT_ERROR
    # Nothing written (all current, or nothing to download): a cron job must
    # not reload a server for it.
    return EXIT_ALREADY_CURRENT


def _summary(certificate: JsonObject) -> tuple[str, str, str, str, str]:
    current = certificate.get("current") or {}
    pending = certificate.get("pending") or {}
    return (
        str(certificate.get("name", "")),
        "yes" if certificate.get("auto_renew") else "no",
        str(current.get("not_valid_after") or "-"),
        str(current.get("serial_number") or "-"),
        str(pending.get("state") or "-"),
    )


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@pass_services
def list_command(services: Services, as_json: bool) -> None:
    """List the account's certificates."""
    certificates = services.api().list_certificates()
    if as_json:
        click.echo(json.dumps(certificates, indent=2, sort_keys=True))
        return
    rows = [("NAME", "AUTO-RENEW", "NOT VALID AFTER", "SERIAL", "PENDING")]
    rows += [_summary(certificate) for certificate in certificates]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
        )


@cli.command(short_help="Show a certificate with its current and pending instances.")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@pass_services
def show(services: Services, name: str, as_json: bool) -> None:
    """Show one certificate: names, auto-renew, current and pending instances."""
    certificate = services.api().get_certificate(name)
    if as_json:
        click.echo(json.dumps(certificate, indent=2, sort_keys=True))
        return
    current = certificate.get("current")
    pending = certificate.get("pending")
    click.echo(f"name:        {certificate.get('name')}")
    click.echo(f"names:       {', '.join(certificate_names(certificate))}")
    click.echo(f"auto-renew:  {'yes' if certificate.get('auto_renew') else 'no'}")
    if current:
        click.echo(
            f"current:     serial {current.get('serial_number')}, "
            f"not valid after {current.get('not_valid_after')}"
        )
    else:
        click.echo("current:     none")
    if pending:
        click.echo(f"pending:     {pending.get('id')} ({pending.get('state')})")
    else:
        click.echo("pending:     none")


def _warn_if_key_differs(
    certificate: JsonObject, paths: CertificatePaths, name: str
) -> None:
    # Reissue uses the key of the server's current instance; if that is not
    # our key, the download at the end will refuse the result (exit 13). A
    # warning, not a refusal: the key may live on another machine, which will
    # download the renewed certificate itself.
    current = certificate.get("current") or {}
    expected = current.get("public_key_sha256")
    try:
        actual = public_key_sha256(read_key(paths.key))
    except LocalFileError as error:
        click.echo(f"warning: {error.user_message()}", err=True)
        return
    if expected and expected != actual:
        click.echo(
            f"warning: the current certificate of {name} is not for the local key "
            f"{paths.key}; the download will fail; use certmint rekey {name}",
            err=True,
        )


def _same_key_command(
    services: Services,
    name: str,
    no_wait: bool,
    timeout: int,
    options: DownloadOptions,
) -> None:
    api = services.api()
    certificate = api.get_certificate(name)
    cert_name = certificate_name(certificate)
    _warn_if_key_differs(certificate, _paths(services.config(), cert_name), cert_name)
    instance = api.reissue(cert_name, str(uuid.uuid4()))
    click.echo(f"Requested a new certificate for {cert_name} with the same key.")
    _wait_and_download(
        services, cert_name, instance, no_wait=no_wait, timeout=timeout, options=options
    )
    click.echo(f"Installed the certificate {cert_name}.")


@cli.command()
@click.argument("name")
@_wait_options
@pass_services
def renew(
    services: Services,
    name: str,
    no_wait: bool,
    timeout: int,
    combined: bool,
    pkcs12: bool,
) -> None:
    """Renew NAME now with the same key, then download it."""
    _same_key_command(
        services, name, no_wait, timeout, DownloadOptions(combined, pkcs12)
    )


# SSLMate's two words for one operation here: both ask for a new certificate
# for the same key and the certificate's current names.
reissue = click.Command(
    "reissue",
    callback=renew.callback,
    params=renew.params,
    help="Reissue NAME with the same key (e.g. after certmint edit changed "
    "its names), then download it.",
    short_help="Reissue NAME with the same key, then download it.",
)
cli.add_command(reissue)


@cli.command(short_help="Get NAME with a new key (staged as NAME.key.new).")
@click.argument("name")
@click.option(
    "--key-type",
    type=click.Choice(KEY_TYPES),
    help="Type of the new private key (default: key_type in the config).",
)
@click.option(
    "--force", is_flag=True, help="Discard a NAME.key.new left by an earlier run."
)
@_wait_options
@pass_services
def rekey(
    services: Services,
    name: str,
    key_type: str | None,
    force: bool,
    no_wait: bool,
    timeout: int,
    combined: bool,
    pkcs12: bool,
) -> None:
    """Get NAME with a new key, staged as NAME.key.new until it is installed."""
    config = services.config()
    api = services.api()
    certificate = api.get_certificate(name)
    cert_name = certificate_name(certificate)
    paths = _paths(config, cert_name)

    key = stage_rekey_key(paths, key_type or config.key_type, force=force)
    click.echo(f"Created the new private key {paths.new_key}.")
    try:
        instance = submit_csr(api, cert_name, key, certificate_names(certificate))
    except ApiError:
        # The server refused outright, so no instance is for this key.
        paths.new_key.unlink(missing_ok=True)
        raise
    click.echo(f"Requested a certificate for {cert_name} with the new key.")
    _wait_and_download(
        services,
        cert_name,
        instance,
        no_wait=no_wait,
        timeout=timeout,
        options=DownloadOptions(combined, pkcs12),
    )
    click.echo(f"Installed the certificate {cert_name} and its new key {paths.key}.")


@cli.command(short_help="Revoke all but the newest certificate (or --all).")
@click.argument("name")
@click.option(
    "--all",
    "include_current",
    is_flag=True,
    help="Also revoke the newest certificate (default: all but the newest).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_services
def revoke(services: Services, name: str, include_current: bool, yes: bool) -> None:
    """Revoke the older certificates of NAME, or all of them with --all."""
    what = (
        "every certificate" if include_current else "every certificate but the newest"
    )
    if not yes:
        click.confirm(f"Revoke {what} of {name}?", abort=True)
    revoked = services.api().revoke(name, include_current=include_current)
    if not revoked:
        click.echo("Nothing to revoke.")
    for instance in revoked:
        click.echo(
            f"Revoked serial {instance.get('serial_number')} "
            f"(instance {instance.get('id')})."
        )


@cli.command()
@click.argument("name")
@click.option("--add-name", "add_names", multiple=True, help="A name to add.")
@click.option("--rm-name", "remove_names", multiple=True, help="A name to remove.")
@click.option(
    "--auto-renew/--no-auto-renew", default=None, help="Turn automatic renewal on/off."
)
@pass_services
def edit(
    services: Services,
    name: str,
    add_names: tuple[str, ...],
    remove_names: tuple[str, ...],
    auto_renew: bool | None,
) -> None:
    """Change the names or auto-renewal of NAME."""
    changes: JsonObject = {}
    if add_names:
        changes["add_names"] = list(add_names)
    if remove_names:
        changes["remove_names"] = list(remove_names)
    if auto_renew is not None:
        changes["auto_renew"] = auto_renew
    if not changes:
        raise click.UsageError(
            "Nothing to change; use --add-name, --rm-name or --auto-renew."
        )
    certificate = services.api().edit_certificate(name, changes)
    cert_name = certificate_name(certificate)
    click.echo(f"names:      {', '.join(certificate_names(certificate))}")
    click.echo(f"auto-renew: {'yes' if certificate.get('auto_renew') else 'no'}")
    if add_names or remove_names:
        click.echo(
            f"Run certmint reissue {cert_name} to get a certificate with these names."
        )


# Offline commands.


def _names_in_certificate(path: Path) -> list[str] | None:
    try:
        leaf = x509.load_pem_x509_certificate(path.read_bytes())
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    return list(san.value.get_values_for_type(x509.DNSName))


@cli.command()
@click.argument("template", type=click.Choice(TEMPLATES))
@click.argument("name")
@pass_services
def mkconfig(services: Services, template: str, name: str) -> None:
    """Print a TEMPLATE server config for the files of NAME."""
    name = name.lower()
    paths = _paths(services.config(), name)
    names = _names_in_certificate(paths.certificate) or [name]
    click.echo(render(template, name, paths, names), nl=False)


@cli.command()
def version() -> None:
    """Print the client's version."""
    click.echo(f"certmint {__version__}")


def _normalize_offline(names: tuple[str, ...]) -> list[str]:
    # The server's normalization (IDN, label rules) is the truth; offline we
    # only lowercase, strip the root dot and merge duplicates.
    result: list[str] = []
    for raw in names:
        if not raw.isascii():
            raise click.UsageError(f"{raw!r}: give the A-label (xn--...) form offline.")
        name = raw.lower().removesuffix(".")
        if name not in result:
            result.append(name)
    return result


@cli.command(hidden=True)
@click.argument("names", nargs=-1, required=True)
@click.option("--name", "name", help="Name of the files (default: first name).")
@click.option("--key-type", type=click.Choice(KEY_TYPES))
@pass_services
def req(
    services: Services, names: tuple[str, ...], name: str | None, key_type: str | None
) -> None:
    """Make NAME.key and NAME.csr only, without contacting the server."""
    config = services.config()
    normalized = _normalize_offline(names)
    stem_name = (name or normalized[0]).lower().removesuffix(".")
    file_stem(stem_name)
    paths = _paths(config, stem_name)
    key = create_key(paths.key, key_type or config.key_type)
    atomic_write(
        paths.csr,
        build_csr(key, normalized),
        new_ownership=Ownership(mode=CERTIFICATE_FILE_MODE),
    )
    click.echo(f"Created {paths.key} and {paths.csr}.")


def main() -> NoReturn:
    """Run the certmint command line (the console script's entry point)."""
    cli(prog_name="certmint")
    raise SystemExit(EXIT_OK)  # pragma: no cover - click always exits.
