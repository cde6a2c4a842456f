"""Browser steps that move files: download what a click offers, upload into a file field."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import step
from libs.steps.browser.failures import acting, first_line, seconds
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.types import ReadPaths, Target, WritePath


@step("browser.download")
def download(ctx: StepContext,
             target: Annotated[Target, "the button or link whose click starts the download"],
             save_as: Annotated[WritePath | None, "where to save it (relative: in the run's output "
                                            "folder); default downloads/<the server's file "
                                            "name>"] = None) -> str:
    """Click an element, save the file it downloads, and return the file's full path.

    Without save_as the server's file name is kept (Chinese names work when the server sends
    them as UTF-8, e.g. filename*=UTF-8''...); an existing file of that name is not overwritten:
    the new one becomes "name (1).csv".
    """
    session = session_for(ctx)
    locator = locate(session.page, target)
    try:
        with (session.page.expect_download(timeout=timeout_ms(ctx)) as started,
              acting(ctx, "browser.download", target=target, doing="click it")):
            locator.click(timeout=timeout_ms(ctx))
    except PlaywrightTimeoutError:
        raise SystemFailure(ctx.masker.text(
            f"browser.download: clicking {describe(target)} on {session.url} started no download "
            f"within {seconds(ctx.timeout)}; check that this element downloads the file (if it "
            "opens the file in a tab, use browser.click with opens_tab)")) from None
    file = started.value
    name = Path(file.suggested_filename).name or "download"
    out = (ctx.output_path(save_as, "browser.download") if save_as
           else _free(ctx.output_path(Path("downloads", name), "browser.download")))
    try:
        file.save_as(out)
    except PlaywrightError as err:
        raise SystemFailure(ctx.masker.text(
            f"browser.download: the download of '{name}' from {file.url} failed: "
            f"{file.failure() or first_line(err)}")) from None
    ctx.artifact(out, "download")
    ctx.log(f"browser.download: saved '{name}' as {out}")
    return str(out.resolve())


def _free(path: Path) -> Path:
    n = 1
    free = path
    while free.exists():
        free = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return free


@step("browser.upload")
def upload(ctx: StepContext,
           target: Annotated[Target, "the file field (<input type=file>) or the button that "
                                     "opens the file chooser"],
           files: Annotated[ReadPaths, "the file, or a list of files (relative: from the "
                                             "robot's folder)"]) -> None:
    """Choose files in a page's file field, as a person would in the file chooser."""
    paths = [ctx.input_path(f, "browser.upload")
             for f in ([files] if isinstance(files, str) else files)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise StepArgumentError(f"browser.upload: no such file: {', '.join(missing)}; relative "
                                "paths are taken from the robot's folder")
    session = session_for(ctx)
    locator = locate(session.page, target)
    try:
        with acting(ctx, "browser.upload", target=target, doing="choose the files"):
            locator.set_input_files(paths, timeout=timeout_ms(ctx))
        return
    except SystemFailure as err:
        if "not an HTMLInputElement" not in str(err):
            raise
    # Not a file field: a button that opens the chooser. Click it and answer the chooser.
    try:
        with (session.page.expect_file_chooser(timeout=timeout_ms(ctx)) as chooser,
              acting(ctx, "browser.upload", target=target, doing="click it")):
            locator.click(timeout=timeout_ms(ctx))
    except PlaywrightTimeoutError:
        raise SystemFailure(ctx.masker.text(
            f"browser.upload: {describe(target)} on {session.url} is not a file field and "
            "clicking it opened no file chooser; point the target at the <input type=file>"
        )) from None
    with acting(ctx, "browser.upload", target=target, doing="choose the files"):
        chooser.value.set_files(paths, timeout=timeout_ms(ctx))
