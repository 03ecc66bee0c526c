"""Headless Firefox ESR for the console test, driven over Marionette and shaped like Selenium's WebDriver.

Selenium drives Firefox through geckodriver, which Debian does not package (it is only on GitHub).
Firefox itself speaks Marionette (the protocol geckodriver translates WebDriver into), and so does
Mozilla's Python client `marionette_driver` (PyPI). `start_firefox` runs `firefox-esr --headless
--marionette` on a fresh profile and returns a `FirefoxDriver`: the subset of Selenium's WebDriver and
WebElement API that test_console.py calls, over a Marionette session. Its errors are Selenium's
exception classes (NoSuchElementException, StaleElementReferenceException, NoAlertPresentException, ...),
so Selenium's WebDriverWait and expected_conditions work on it unchanged.

Where Marionette and Selenium differ, the adapter follows Selenium:
- scripts run in the page's own global (as Selenium's do), not in marionette_driver's default sandbox;
- `get_attribute` returns the property when there is one (an input's current `value`), as Selenium does;
- `send_keys` with a folder's path on an `<input type=file webkitdirectory>` chooses that folder, as
  chromedriver does (Marionette itself only takes files): `choose_folder` clicks the input with its file
  dialog replaced, in the parent process, by one that answers with the folder (hence
  `-remote-allow-system-access`), and accepts Firefox's own question before a folder upload (whose
  buttons it enables at once, see FOLDER_DIALOG); Firefox then walks the folder and fires `input` and
  `change` exactly as after a folder chosen by hand (a content script cannot give an input a folder:
  the parent process only lets a tab read the folders its file dialog returned, and kills the tab
  otherwise);
- the window is 1280x1000, like the Chromium one.
"""
import contextlib
import functools
import importlib.util
import os
import pathlib
import signal
import socket
import subprocess
import time
import warnings

from selenium.common import exceptions as selenium_errors

try:
    with warnings.catch_warnings():  # mozinfo and mozrunner, which it imports, use deprecated modules
        warnings.simplefilter("ignore", DeprecationWarning)
        from marionette_driver import errors as marionette_errors
        from marionette_driver.marionette import Marionette, WebElement
except ImportError:  # missing() reports it, and the test fails naming scripts/install-deps.sh --test
    marionette_errors = Marionette = WebElement = None

FIREFOX = pathlib.Path("/usr/bin/firefox-esr")
WINDOW = (1280, 1000)

# Written to the profile's user.js. Marionette applies its own recommended preferences (no updates,
# telemetry, safe browsing, ...) once it runs; these also hold while Firefox starts, before it does.
QUIET_PREFS = {
    "marionette.port": 0,  # Firefox binds a free port and writes it to <profile>/MarionetteActivePort
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "browser.aboutwelcome.enabled": False,
    "trailhead.firstrun.didSeeAboutWelcome": True,
    "browser.newtabpage.enabled": False,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "toolkit.telemetry.server": "",
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.tabs.warnOnClose": False,
    "browser.sessionstore.resume_from_crash": False,
    "security.dialog_enable_delay": 0,  # the confirmation of a folder upload is accepted at once
    # Downloads go straight to the test's directory, without a dialog or the downloads panel.
    "browser.download.folderList": 2,
    "browser.download.useDownloadDir": True,
    "browser.download.always_ask_before_handling_new_types": False,
    "browser.download.alwaysOpenPanel": False,
    "browser.download.panel.shown": True,
    "browser.download.start_downloads_in_tmp_dir": False,
}

# Marionette's error codes (the WebDriver spec's) and the Selenium exceptions they become.
SELENIUM_ERRORS = {
    "no such element": selenium_errors.NoSuchElementException,
    "stale element reference": selenium_errors.StaleElementReferenceException,
    "no such alert": selenium_errors.NoAlertPresentException,
    "unexpected alert open": selenium_errors.UnexpectedAlertPresentException,
    "element not interactable": selenium_errors.ElementNotInteractableException,
    "element click intercepted": selenium_errors.ElementClickInterceptedException,
    "invalid element state": selenium_errors.InvalidElementStateException,
    "invalid selector": selenium_errors.InvalidSelectorException,
    "invalid argument": selenium_errors.InvalidArgumentException,
    "javascript error": selenium_errors.JavascriptException,
    "script timeout": selenium_errors.TimeoutException,
    "timeout": selenium_errors.TimeoutException,
    "no such window": selenium_errors.NoSuchWindowException,
    "no such frame": selenium_errors.NoSuchFrameException,
    "invalid session id": selenium_errors.InvalidSessionIdException,
}

# Selenium's get_attribute: the property when it is a plain value (an input's current value, a
# resolved href), "true" or null for a boolean one, otherwise the attribute.
GET_ATTRIBUTE = """
const [element, name] = arguments;
const property = element[name];
if (typeof property === 'boolean') return property ? 'true' : null;
if (typeof property === 'string' || typeof property === 'number') return String(property);
return element.getAttribute(name);
"""

# Runs in the parent process (chrome context) before the click on a folder input. The next file dialog
# becomes a folder picker that answers with `path` at once. Firefox then asks "upload all files from
# <folder>?" in a dialog whose buttons stay disabled for a moment after it has the focus (against
# clickjacking); a button clicked while disabled does nothing, and Marionette's accept would then wait
# forever, so for that one dialog the delay is over as soon as it has loaded. The real picker's class id
# and the observer are kept on the chrome window for RESTORE_FILE_DIALOG.
FOLDER_DIALOG = """
const [path] = arguments;
const registrar = Components.manager.QueryInterface(Ci.nsIComponentRegistrar);
const contract = '@mozilla.org/filepicker;1';
const folder = Cc['@mozilla.org/file/local;1'].createInstance(Ci.nsIFile);
folder.initWithPath(path);
const factory = {
  createInstance(iid) {
    const picker = {
      init() {}, appendFilters() {}, appendFilter() {}, appendRawFilter() {}, isModeSupported: () => true,
      defaultString: '', defaultExtension: '', filterIndex: 0, displayDirectory: null, displaySpecialDirectory: '',
      okButtonLabel: '', addToRecentDocs: false, mode: Ci.nsIFilePicker.modeGetFolder, capture: 0,
      file: folder,
      get fileURL() { return Services.io.newFileURI(folder); },
      open(callback) { Services.tm.dispatchToMainThread(() => callback.done(Ci.nsIFilePicker.returnOK)); },
      QueryInterface: ChromeUtils.generateQI(['nsIFilePicker']),
    };
    return picker.QueryInterface(iid);
  },
  QueryInterface: ChromeUtils.generateQI(['nsIFactory']),
};
const question = {
  observe(dialogWindow) {
    const dialog = dialogWindow.Dialog;
    if (!dialog || !String(dialog.args.text).includes(folder.leafName)) return;
    Services.obs.removeObserver(question, 'common-dialog-loaded');
    dialog.delayHelper?.onUnload();
    dialog.setButtonsEnabledState(true);
  },
};
window.folderChooser = { realPicker: registrar.contractIDToCID(contract).toString(), question };
registrar.registerFactory(Services.uuid.generateUUID(), 'console test folder picker', contract, factory);
Services.obs.addObserver(question, 'common-dialog-loaded');
"""

RESTORE_FILE_DIALOG = """
const { realPicker, question } = window.folderChooser;
delete window.folderChooser;
const registrar = Components.manager.QueryInterface(Ci.nsIComponentRegistrar);
registrar.registerFactory(Components.ID(realPicker), '', '@mozilla.org/filepicker;1', null);
try { Services.obs.removeObserver(question, 'common-dialog-loaded'); } catch (e) { /* it ran */ }
"""


def missing():
    """What Firefox runs need and this machine lacks, as phrases for a failure message."""
    needs = [] if FIREFOX.exists() else [f"{FIREFOX} (Debian package firefox-esr)"]
    if importlib.util.find_spec("marionette_driver") is None:
        needs.append("the Python package marionette_driver")
    return needs


def selenium_errors_raised(method):
    """Makes `method` raise the Selenium exception for any Marionette error (the same message)."""
    @functools.wraps(method)
    def translated(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except marionette_errors.MarionetteException as error:
            selenium_class = SELENIUM_ERRORS.get(error.status, selenium_errors.WebDriverException)
            raise selenium_class(error.message, stacktrace=(error.stacktrace or "").splitlines() or None) from error
    return translated


def _to_marionette(value):
    """Script arguments: adapter elements become Marionette's, in lists and dicts too."""
    if isinstance(value, FirefoxElement):
        return value.element
    if isinstance(value, (list, tuple)):
        return [_to_marionette(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_marionette(item) for key, item in value.items()}
    return value


def _from_marionette(driver, value):
    """Script results: Marionette's elements become adapter elements, in lists and dicts too."""
    if isinstance(value, WebElement):
        return FirefoxElement(driver, value)
    if isinstance(value, list):
        return [_from_marionette(driver, item) for item in value]
    if isinstance(value, dict):
        return {key: _from_marionette(driver, item) for key, item in value.items()}
    return value


class FirefoxElement:
    """A DOM element, with the WebElement methods the test uses."""

    def __init__(self, driver, element):
        self.parent, self.element = driver, element

    def __eq__(self, other):
        return isinstance(other, FirefoxElement) and self.element.id == other.element.id

    def __hash__(self):
        return hash(self.element.id)

    def __repr__(self):
        return f"<FirefoxElement {self.element.id}>"

    @property
    @selenium_errors_raised
    def text(self):
        return self.element.text

    def get_attribute(self, name):
        return self.parent.execute_script(GET_ATTRIBUTE, self, name)

    @selenium_errors_raised
    def click(self):
        self.element.click()

    @selenium_errors_raised
    def clear(self):
        self.element.clear()

    @selenium_errors_raised
    def send_keys(self, *values):
        """Types the text (Selenium's Keys are the WebDriver key codes Marionette takes too). On a
        file input, the text is a file's path; a folder's path chooses that folder (webkitdirectory)."""
        text = "".join(str(value) for value in values)
        if os.path.isdir(text):
            self.parent.choose_folder(self, text)
        else:
            self.element.send_keys(text)

    @selenium_errors_raised
    def is_displayed(self):
        return self.element.is_displayed()

    @selenium_errors_raised
    def is_enabled(self):
        return self.element.is_enabled()



class FirefoxAlert:
    """The open window.alert/confirm/prompt dialog."""

    def __init__(self, marionette):
        self.marionette = marionette

    @property
    @selenium_errors_raised
    def text(self):
        return self.marionette.switch_to_alert().text

    @selenium_errors_raised
    def accept(self):
        self.marionette.switch_to_alert().accept()

    @selenium_errors_raised
    def dismiss(self):
        self.marionette.switch_to_alert().dismiss()


class FirefoxSwitchTo:
    """`driver.switch_to`: only `.alert`, which raises NoAlertPresentException without a dialog (as
    Selenium's does, and expected_conditions.alert_is_present relies on)."""

    def __init__(self, marionette):
        self.marionette = marionette

    @property
    def alert(self):
        alert = FirefoxAlert(self.marionette)
        alert.text  # noqa: B018 - raises NoAlertPresentException when no dialog is open
        return alert


class FirefoxDriver:
    """A Marionette session on a Firefox this module started, with the WebDriver methods the test uses.
    `quit` ends the session and the browser; its output is in `log`."""

    def __init__(self, marionette, process, log):
        self.marionette, self.process, self.log = marionette, process, log
        self.switch_to = FirefoxSwitchTo(marionette)

    @selenium_errors_raised
    def get(self, url):
        self.marionette.navigate(url)

    @property
    @selenium_errors_raised
    def current_url(self):
        return self.marionette.get_url()

    @selenium_errors_raised
    def find_element(self, by, value):
        return FirefoxElement(self, self.marionette.find_element(by, value))

    @selenium_errors_raised
    def find_elements(self, by, value):
        return [FirefoxElement(self, found) for found in self.marionette.find_elements(by, value)]

    @selenium_errors_raised
    def execute_script(self, script, *args):
        """Runs `script` in the page's global (sandbox=None, as Selenium does), with `arguments`."""
        result = self.marionette.execute_script(script, script_args=_to_marionette(args), sandbox=None)
        return _from_marionette(self, result)

    @selenium_errors_raised
    def execute_async_script(self, script, *args):
        """Like execute_script; the script ends by calling `arguments[arguments.length - 1]`."""
        result = self.marionette.execute_async_script(script, script_args=_to_marionette(args), sandbox=None)
        return _from_marionette(self, result)

    @selenium_errors_raised
    def choose_folder(self, element, path, timeout=10):
        """Chooses the folder `path` in `element` (an `<input type=file webkitdirectory>`) as a user
        does: a click opens the file dialog (a folder picker that answers at once, FOLDER_DIALOG),
        and Firefox's question "upload all files from <folder>?" is accepted. Firefox then walks the
        folder and fires input and change, each file with its webkitRelativePath."""
        path = os.path.abspath(path)
        marionette = self.marionette
        with marionette.using_context("chrome"):
            marionette.execute_script(FOLDER_DIALOG, script_args=(path,))
        try:
            self.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
            marionette.actions.sequence("pointer", "folder-chooser", {"pointerType": "mouse"}).click(
                element.element).perform()
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(marionette_errors.NoAlertPresentException):
                    question = marionette.switch_to_alert()
                    if os.path.basename(path) not in question.text:
                        raise selenium_errors.UnexpectedAlertPresentException(
                            f"a dialog other than the folder upload's: {question.text!r}")
                    question.accept()
                    marionette.actions.release()  # not before: any other command would dismiss the question
                    return
                if time.monotonic() > deadline:
                    raise selenium_errors.TimeoutException(f"Firefox did not ask to upload the folder {path}")
                time.sleep(0.05)
        finally:
            with marionette.using_context("chrome"):
                marionette.execute_script(RESTORE_FILE_DIALOG)

    def set_script_timeout(self, seconds):
        self.marionette.timeout.script = seconds

    @selenium_errors_raised
    def get_screenshot_as_png(self):
        return self.marionette.screenshot(format="binary", full=False)

    def save_screenshot(self, path):
        """The viewport as a PNG, like Selenium's."""
        pathlib.Path(path).write_bytes(self.get_screenshot_as_png())
        return True

    def quit(self):
        """Ends the session, then Firefox: SIGTERM (it shuts down cleanly), SIGKILL after 20 seconds,
        and SIGKILL for whatever its process group still holds (content processes)."""
        with contextlib.suppress(Exception):
            self.marionette.delete_session()
        _stop(self.process)


def _stop(process):
    """Stops the Firefox `process` started in its own session, and every process of that session."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only Firefox's processes


def _write_profile(profile, downloads):
    prefs = dict(QUIET_PREFS, **{"browser.download.dir": str(downloads)})
    lines = [f'user_pref("{name}", {_pref_value(value)});' for name, value in prefs.items()]
    profile.mkdir(parents=True)
    (profile / "user.js").write_text("\n".join(lines) + "\n")


def _pref_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _marionette_port(process, profile, log, timeout):
    """Waits, polling, for Firefox to write the port Marionette bound and for that port to accept."""
    port_file = profile / "MarionetteActivePort"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"firefox-esr exited with {process.returncode} while starting; see {log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Marionette did not listen within {timeout} s; see {log}")
        with contextlib.suppress(OSError, ValueError):
            port = int(port_file.read_text().strip())
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        time.sleep(0.05)


def start_firefox(directory, downloads, timeout=60):
    """Starts headless Firefox ESR on a new profile in `directory` (its output in directory/firefox.log),
    downloads saved to `downloads` without asking, and returns a FirefoxDriver on a Marionette session.

    Marionette binds a free port of its choosing (marionette.port 0) and writes it to the profile, so
    no other process can take it between a pick and Firefox's bind. `-remote-allow-system-access` lets
    the session run scripts in the parent process, which choose_folder needs."""
    directory = pathlib.Path(directory)
    profile, log = directory / "profile", directory / "firefox.log"
    _write_profile(profile, downloads)
    env = dict(os.environ, MOZ_HEADLESS="1", MOZ_CRASHREPORTER_DISABLE="1")
    with open(log, "wb") as output:
        command = [str(FIREFOX), "--headless", "--marionette", "-remote-allow-system-access",
                   "-no-remote", "-profile", str(profile)]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    try:
        port = _marionette_port(process, profile, log, timeout)
        marionette = Marionette(host="127.0.0.1", port=port)  # bin=None: attach to this Firefox
        marionette.start_session(capabilities={"strictFileInteractability": False}, timeout=timeout)
        marionette.set_window_rect(width=WINDOW[0], height=WINDOW[1])
    except BaseException:
        _stop(process)
        raise
    return FirefoxDriver(marionette, process, log)
