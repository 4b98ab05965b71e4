"""A small harness for testing the lab's notebooks and widgets in a real browser.

    with JupyterLab(notebooks=["notebooks/holo_explore.ipynb"]) as lab, lab.browser() as page:
        nb = lab.open(page, "holo_explore.ipynb")
        nb.run_all()
        before = nb.image_bytes(0)
        nb.set_slider("k", 3)
        nb.wait_image_change(0, before)
        nb.screenshot("reports/figures/holo_explore.png")

JupyterLab runs from this virtual environment on a free local port with token authentication, on a
temporary copy of the notebooks (autosave off, so nothing in the repository is touched); headless
Chromium comes from the system (Debian's `chromium`, installed by `make setup`), driven by Playwright.
Nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "reports" / "figures"          # the explorers' screenshots
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
# JupyterLab settings for a quiet, reproducible session: no autosave, no news or update checks
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on a temporary copy of `notebooks` (and their jupytext pairs)."""

    def __init__(self, notebooks: list[str | Path], startup_timeout: float = 90):
        self.notebooks = [ROOT / n for n in notebooks]
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.startup_timeout = startup_timeout
        self.proc = None

    def __enter__(self) -> "JupyterLab":
        self.tmp = Path(tempfile.mkdtemp(prefix="lab-browser-"))
        self.root = self.tmp / "root"
        self.root.mkdir()
        for nb in self.notebooks:
            for f in (nb, nb.with_suffix(".py")):
                if f.exists():
                    shutil.copy2(f, self.root / f.name)
        settings = self.tmp / "settings"
        for rel, value in SETTINGS.items():
            p = settings / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(value))
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.tmp / "runtime"),
               "JUPYTER_CONFIG_DIR": str(self.tmp / "config"), "PYTHONHASHSEED": "0"}
        env.pop("MPLBACKEND", None)
        self.log = open(self.tmp / "jupyter.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={self.port}",
             "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", f"--LabApp.user_settings_dir={settings}",
             f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}",
             "--LabApp.expose_app_in_browser=True"],    # window.jupyterapp: the kernel's own status signal
            cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"JupyterLab did not start; log:\n{self.server_log()[-3000:]}")
                time.sleep(0.3)

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def server_log(self) -> str:
        self.log.flush()
        return (self.tmp / "jupyter.log").read_text(errors="replace")

    @contextmanager
    def browser(self, width: int = 1280, height: int = 1000):
        """A Playwright page in headless system Chromium."""
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = b.new_page(viewport={"width": width, "height": height})
                yield page
            finally:
                b.close()

    def open(self, page, name: str, timeout: float = 120) -> "Notebook":
        page.goto(f"{self.base}/lab/tree/{name}?token={self.token}")
        return Notebook(page, name, timeout)

    @contextmanager
    def evidence(self, page, name: str = "failure"):
        """On an exception, keep a screenshot and the server log under outputs/browser/ and say where."""
        try:
            yield
        except BaseException as e:
            d = ROOT / "outputs" / "browser"
            d.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(d / f"{name}.png"))
            except Exception:  # noqa: BLE001 - the page may be gone; the log still helps
                pass
            (d / f"{name}.log").write_text(self.server_log())
            e.add_note(f"browser evidence: {d / name}.png and .log")
            raise


class Notebook:
    """One open notebook tab: run it, find widgets, act on them, read images, take screenshots."""

    def __init__(self, page, name: str, timeout: float):
        self.page, self.name, self.ms = page, name, int(timeout * 1000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=self.ms)
        self.wait_kernel_idle()

    # -- state ------------------------------------------------------------------------------------------
    @property
    def panel(self):
        return self.page.locator(".jp-NotebookPanel:visible").first

    def is_dirty(self) -> bool:
        """Whether the notebook's tab shows unsaved changes."""
        tab = self.page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab:has-text("{self.name}")').first
        return "jp-mod-dirty" in (tab.get_attribute("class") or "")

    def wait_kernel_idle(self, settle: float = 0.5):
        """Wait until the kernel is connected and idle (the status bar says so), twice `settle` s apart:
        a notebook's first kernel may be replaced while it starts."""
        for _ in range(2):
            self.page.wait_for_function(
                "() => /\\| Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')",
                timeout=self.ms)
            self.page.wait_for_timeout(settle * 1000)

    def settle(self, action, done: str | None = None, arg=None, ceiling: float = 900) -> None:
        """Do `action` (a key press, a click), then wait until the kernel has been busy and is idle again and,
        if given, the JS predicate `done(arg)` holds (the widget shows the result). The wait follows the
        kernel's state and the page's, so a loaded machine only takes longer; `ceiling` only catches a hung
        kernel, it is not a speed requirement. Busy is caught from the kernel connection's own status signal
        (one call per iopub status message), not from the status bar: a handler that returns at once is busy
        for less than a frame, and the status bar then never renders "Busy"."""
        self.page.evaluate("""() => {
            const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            const old = window.__labHook;
            if (old) old.kernel.statusChanged.disconnect(old.slot);
            window.__labBusy = false;
            const slot = (_, status) => { if (status === 'busy') window.__labBusy = true; };
            k.statusChanged.connect(slot);
            window.__labHook = {kernel: k, slot};
        }""")
        action()
        idle = "window.__labBusy && window.__labHook.kernel.status === 'idle'"
        js = f"(arg) => ({idle}) && ({done})(arg)" if done else f"() => {idle}"
        self._wait(js, arg, ceiling, "the kernel did not finish" + (" with the expected result" if done else ""))

    def command(self, command_id: str):
        """Run a JupyterLab command through its main-menu entry (what a user clicks)."""
        menu = {"runmenu:run-all": "Run", "runmenu:restart-and-run-all": "Run",
                "docmanager:save": "File"}[command_id]
        self.page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
        self.page.locator(f'.lm-Menu-item[data-command="{command_id}"]').first.click()

    def run_all(self) -> None:
        """Run every cell from the Run menu and wait until the last code cell has executed."""
        self.command("runmenu:run-all")
        n = self.panel.locator(".jp-CodeCell").count()
        self.page.wait_for_function(
            """(n) => {
                const p = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                return p.length === n && p.every(e => /\\[\\d+\\]/.test(e.textContent));
            }""", arg=n, timeout=self.ms)
        self.wait_kernel_idle()

    def errors(self) -> list[str]:
        """Tracebacks shown in the notebook's outputs."""
        return self.panel.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts() \
            + self.panel.locator(".jp-OutputArea-output:has(.ansi-red-fg)").all_inner_texts()

    # -- widgets --------------------------------------------------------------------------------------
    def slider(self, description: str):
        return self.panel.locator(f'.widget-slider:has(.widget-label:text-is("{description}"))').first

    def slider_value(self, description: str) -> str:
        return self.slider(description).locator(".widget-readout").inner_text().strip()

    def set_slider(self, description: str, value) -> None:
        """Type a value into a slider's readout, as a user does, and press Enter."""
        r = self.slider(description).locator(".widget-readout")
        r.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(str(value))
        self.page.keyboard.press("Enter")
        self.page.wait_for_function(
            "([el, v]) => el.textContent.trim() === v", arg=[r.element_handle(), str(value)], timeout=self.ms)

    def press_slider(self, description: str, key: str, times: int = 1) -> None:
        """Move a slider's handle with the keyboard (ArrowLeft/ArrowRight/Home/End)."""
        h = self.slider(description).locator(".noUi-handle")
        h.focus()
        for _ in range(times):
            h.press(key)

    def images(self):
        return self.panel.locator(".widget-image")

    def image_src(self, i: int) -> str:
        return self.images().nth(i).get_attribute("src") or ""

    def image_bytes(self, i: int) -> bytes:
        """The displayed pixels of the i-th image widget (an element screenshot)."""
        return self.images().nth(i).screenshot()

    def image_size(self, i: int) -> tuple[int, int, int, int]:
        """(displayed width, height, natural width, height) of the i-th image widget."""
        return tuple(self.images().nth(i).evaluate(
            "e => [e.clientWidth, e.clientHeight, e.naturalWidth, e.naturalHeight]"))

    def wait_image_change(self, i: int, src_before: str, timeout: float | None = None) -> str:
        """Wait until the i-th image widget shows a new picture; return its new src."""
        el = self.images().nth(i).element_handle()
        self._wait("([e, s]) => e.getAttribute('src') !== s && e.complete && e.naturalWidth > 0", [el, src_before],
                   timeout, f"image widget {i} did not re-render")
        return self.image_src(i)

    def _wait(self, js: str, arg, timeout: float | None, what: str) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        t = self.ms if timeout is None else int(timeout * 1000)
        try:
            self.page.wait_for_function(js, arg=arg, timeout=t)
        except PlaywrightTimeout:
            raise AssertionError(f"{what} within {t / 1000:g} s") from None

    def wait_image_size(self, i: int, size: tuple[int, int]) -> None:
        """Wait until the i-th image widget shows a picture of `size` (natural width, height)."""
        el = self.images().nth(i).element_handle()
        self._wait("([e, w, h]) => e.complete && e.naturalWidth === w && e.naturalHeight === h", [el, *size],
                   30, f"image widget {i} did not become {size[0]}x{size[1]}")

    def label(self, contains: str) -> str:
        return self.panel.locator(".widget-label", has_text=contains).first.inner_text()

    # -- pictures -------------------------------------------------------------------------------------
    def screenshot(self, path: str | Path, locator=None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        (locator or self.page).screenshot(path=str(path))
        return path


def run_explorer(name: str):
    """JupyterLab with notebooks/<name>.ipynb open and run: yields (notebook, was it dirty on opening)."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with JupyterLab([f"notebooks/{name}.ipynb"]) as lab, lab.browser() as page:
        with lab.evidence(page, name):
            nb = lab.open(page, f"{name}.ipynb")
            dirty_on_open = nb.is_dirty()
            nb.run_all()
            yield nb, dirty_on_open
