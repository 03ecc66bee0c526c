"""The web console in real browsers against a real cluster: headless Chromium driven by Selenium
(chromedriver), and headless Firefox ESR driven over Marionette (firefox_marionette.py, an adapter with
the part of Selenium's API the test uses). Every test runs in both.

Every step goes through the page as a user would (forms, links, file inputs, confirm dialogs) and is
checked from outside the browser too: boto3 for what the uploads stored, curl for the share link.
A screenshot of each page visited lands in tmp_path/screenshots/<browser>."""
import importlib.util
import os
import pathlib
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, Cluster

if importlib.util.find_spec("selenium") is None:
    pytest.fail("the console test needs the Python package selenium: run scripts/install-deps.sh --test",
                pytrace=False)

import firefox_marionette  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = pathlib.Path("/usr/bin/chromium"), pathlib.Path("/usr/bin/chromedriver")
BUCKET = "console-test"


class Browser:
    """The driver plus the few waits and lookups the test repeats."""

    def __init__(self, driver, shots, downloads):
        self.driver, self.shots, self.downloads = driver, shots, downloads

    def wait(self, condition, timeout=30, what=None):
        """Polls `condition` until it holds. An element it reads may be replaced meanwhile (a listing
        re-rendered, a route changed): that poll only does not count."""
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition, what)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css, timeout=30):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, f"{css} visible")

    def text(self, css, expected, timeout=30):
        """Waits until the element's text contains `expected`."""
        self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), expected), timeout, f"{expected!r} in {css}")

    def link(self, css, text):
        """Waits for a link matching `css` whose text is exactly `text`, and returns it."""
        return self.wait(lambda d: next((a for a in d.find_elements(By.CSS_SELECTOR, css) if a.text == text), False),
                         what=f"link {text!r} ({css})")

    def fill(self, element_id, value):
        field = self.find(f"#{element_id}")
        field.clear()
        field.send_keys(value)
        return field

    def confirm(self):
        """Accepts the window.confirm dialog the last click opened."""
        self.wait(EC.alert_is_present(), 10, "a confirm dialog").accept()

    def shot(self, name):
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        assert path.exists() and path.stat().st_size > 0, f"no screenshot {path}"

    def upload(self, input_id, path, keys, timeout=120):
        """Gives the file input a path and waits for every key's upload status to read "done"."""
        self.find(f"#{input_id}").send_keys(str(path))

        def finished(driver):
            states = []
            for key in keys:
                status = driver.find_elements(By.CSS_SELECTOR, f'#uploads li[data-key="{key}"] .status')
                states.append(status[0].text if status else "")
                assert not states[-1].startswith("failed"), f"upload of {key}: {states[-1]}"
            return all(state == "done" for state in states)
        self.wait(finished, timeout, f"uploads of {keys}")

    def sign_in(self, access_key, secret_key):
        self.visible("#signin")
        self.fill("access-key", access_key)
        self.fill("secret-key", secret_key).send_keys(Keys.ENTER)

    def fetch_status(self, path):
        """The HTTP status of a fetch the page itself makes (with its session cookie)."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin'}).then(r => done(r.status), e => done(String(e)));", path)


def chromium_missing():
    return [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]


def start_chromium(tmp_path, downloads):
    """Headless Chromium through chromedriver, downloads saved to `downloads` without asking."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def start_firefox(tmp_path, downloads):
    """Headless Firefox ESR over Marionette (its profile and firefox.log in tmp_path/firefox)."""
    return firefox_marionette.start_firefox(tmp_path / "firefox", downloads)


BROWSERS = {"chromium": (chromium_missing, start_chromium), "firefox": (firefox_marionette.missing, start_firefox)}


@pytest.fixture(params=list(BROWSERS))
def console(request, tmp_path):
    """A cluster with two agents, a browser (each test runs once per browser) and the console's URL."""
    missing, start = BROWSERS[request.param]
    if missing():
        pytest.fail(f"the console test in {request.param} needs {', '.join(missing())}: "
                    "run scripts/install-deps.sh --test", pytrace=False)
    cluster = Cluster(tmp_path, agents=2)
    driver = None
    try:
        cluster.start()
        downloads, shots = tmp_path / "downloads", tmp_path / "screenshots" / request.param
        downloads.mkdir()
        shots.mkdir(parents=True)
        driver = start(tmp_path, downloads)
        driver.set_script_timeout(30)
        yield cluster, Browser(driver, shots, downloads), f"http://127.0.0.1:{cluster.console_port}/"
    finally:
        if driver:
            driver.quit()
        cluster.stop()


def test_console_in_a_browser(console, tmp_path):
    cluster, browser, url = console
    s3 = cluster.boto3()
    driver = browser.driver

    # A wrong secret is refused with a message; the secret field is emptied either way.
    driver.get(url)
    browser.sign_in(ROOT_ACCESS_KEY, "not-the-secret-key-0123456789")
    browser.wait(lambda d: browser.find("#signin-error").text.strip(), what="a sign-in error")
    assert browser.find("#secret-key").get_attribute("value") == ""
    browser.shot("signin-error")

    # The root key signs in: its id shows in the header, and the admin pages are in the nav.
    browser.sign_in(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    browser.text("#whoami", ROOT_ACCESS_KEY)
    assert "(root)" in browser.find("#whoami").text
    assert browser.find("#secret-key").get_attribute("value") == ""
    browser.visible("#nav-cluster")

    # Create a bucket with the form: its link appears in the table.
    browser.visible("#create-bucket")
    browser.fill("new-bucket", BUCKET).send_keys(Keys.ENTER)
    browser.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, f'#buckets a[href="#/b/{BUCKET}/"]')))
    browser.shot("buckets")
    browser.find(f'#buckets a[href="#/b/{BUCKET}/"]').click()
    browser.visible("#dropzone")

    # Uploads: a small file (one PUT), a 20 MiB file (multipart, 8 MiB parts), and a folder.
    files = tmp_path / "files"
    (files / "album" / "sub").mkdir(parents=True)
    small, big = os.urandom(100 * 1024), os.urandom(20 * 1024 * 1024)
    (files / "small.bin").write_bytes(small)
    (files / "big.bin").write_bytes(big)
    (files / "album" / "a.txt").write_bytes(b"first file in the album\n")
    (files / "album" / "sub" / "b.txt").write_bytes(b"second file, one folder down\n")
    browser.upload("upload-files", files / "small.bin", ["small.bin"])
    browser.upload("upload-files", files / "big.bin", ["big.bin"])
    browser.upload("upload-folder", files / "album", ["album/a.txt", "album/sub/b.txt"])

    # What the browser uploaded is exactly what S3 serves.
    expected = {"small.bin": small, "big.bin": big, "album/a.txt": (files / "album" / "a.txt").read_bytes(),
                "album/sub/b.txt": (files / "album" / "sub" / "b.txt").read_bytes()}
    for key, data in expected.items():
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data, key

    # The listing (refreshed after the uploads) shows the folder and the files; the folder opens.
    browser.link("#objects a.folder", "album/")
    browser.link("#objects a.object", "small.bin")
    browser.link("#objects a.object", "big.bin")
    browser.shot("bucket")
    browser.link("#objects a.folder", "album/").click()
    browser.link("#objects a.object", "a.txt")
    browser.link("#objects a.folder", "sub/")
    browser.shot("folder")

    # The small file's page: its size, a download of the same bytes.
    browser.link(".breadcrumb a", BUCKET).click()
    browser.link("#objects a.object", "small.bin").click()
    browser.text("#object-details", f"{len(small)} bytes")
    browser.find("#download").click()
    downloaded = browser.downloads / "small.bin"
    browser.wait(lambda d: downloaded.exists() and downloaded.stat().st_size == len(small), what="the download")
    assert downloaded.read_bytes() == small
    browser.shot("object")

    # A share link (presigned URL on the S3 port) serves the bytes to a client without credentials.
    browser.find('#share button[type="submit"]').click()
    browser.wait(lambda d: browser.find("#share-url").get_attribute("value"), what="a share link")
    share = browser.find("#share-url").get_attribute("value")
    fetched = subprocess.run(["curl", "-sS", "--fail", share], capture_output=True, timeout=30)
    assert fetched.returncode == 0, fetched.stderr.decode()
    assert fetched.stdout == small
    browser.shot("share")

    # Delete from the object page: confirm, back to the folder, and the object is gone.
    browser.find("#delete-object").click()
    browser.confirm()
    browser.wait(lambda d: d.current_url.endswith(f"#/b/{BUCKET}/"), what="the folder after the delete")
    with pytest.raises(ClientError) as error:
        s3.head_object(Bucket=BUCKET, Key="small.bin")
    assert error.value.response["Error"]["Code"] in ("404", "NoSuchKey")

    # The cluster page: both agents up, nothing under-replicated (it refreshes every 2 seconds).
    browser.find("#nav-cluster").click()
    for agent in ("agent-1", "agent-2"):
        browser.text(f'#agents tr[data-agent="{agent}"] td.state', "up")
    browser.wait(lambda d: browser.find("#under-replicated").text == "0", what="no under-replicated chunks")
    browser.text("#unavailable", "0")
    browser.shot("cluster")

    # The keys page: a new key's secret is shown once, and the key signs S3 requests.
    browser.find("#nav-keys").click()
    browser.visible("#create-key")
    browser.fill("new-key-name", "console-user").send_keys(Keys.ENTER)
    browser.visible("#new-key-secret")
    access_key = browser.find("#new-key-secret code.access-key").text
    secret_key = browser.find("#new-key-secret code.secret-key").text
    assert access_key and secret_key
    browser.visible(f'#keys tr[data-key="{access_key}"]')
    browser.shot("keys")
    user_s3 = boto3.client("s3", endpoint_url=cluster.endpoint, aws_access_key_id=access_key,
                           aws_secret_access_key=secret_key, region_name="us-east-1",
                           config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    assert user_s3.list_buckets()["Buckets"] == []

    # Sign out, then in as the new key: no buckets, no cluster link, and the cluster API refuses it.
    browser.find("#signout").click()
    browser.visible("#signin")
    browser.sign_in(access_key, secret_key)
    browser.text("#whoami", access_key)
    browser.visible("#buckets")
    assert browser.all("#buckets tbody tr") == []
    assert browser.all("#nav-cluster") == []
    assert browser.fetch_status("/api/cluster") == 403
    browser.shot("user-buckets")


# Makes the page's part uploads fail like a dropped network while window.__failPart2 is set, and
# records every part request it sends.
FAIL_PART_2 = """
window.__sent = [];
window.__failPart2 = true;
const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.open = function (method, url, ...rest) { this.__url = String(url); return open.call(this, method, url, ...rest); };
XMLHttpRequest.prototype.send = function (body) {
  if (this.__url.includes('partNumber=')) window.__sent.push(this.__url.match(/partNumber=(\\d+)/)[1]);
  if (window.__failPart2 && this.__url.includes('partNumber=2&')) { setTimeout(() => this.onerror && this.onerror(), 0); return; }
  return send.call(this, body);
};
"""

# Drops a file on the drop zone as a browser does when a user drags one from the desktop.
DROP_FILE = """
const [name, text] = arguments;
const transfer = new DataTransfer();
transfer.items.add(new File([text], name, { type: 'text/plain' }));
document.querySelector('#dropzone').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
"""


def test_a_failed_multipart_upload_resumes_and_dropped_files_upload(console, tmp_path):
    cluster, browser, url = console
    s3 = cluster.boto3()
    s3.create_bucket(Bucket=BUCKET)
    driver = browser.driver
    driver.get(url)
    browser.sign_in(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    browser.text("#whoami", ROOT_ACCESS_KEY)
    driver.get(url + f"#/b/{BUCKET}/")
    browser.visible("#dropzone")

    # Part 2 of a 20 MiB upload fails through every retry: the upload stops with a Resume button.
    big = os.urandom(20 * 1024 * 1024)
    (tmp_path / "resumed.bin").write_bytes(big)
    driver.execute_script(FAIL_PART_2)
    browser.find("#upload-files").send_keys(str(tmp_path / "resumed.bin"))
    item = '#uploads li[data-key="resumed.bin"]'
    browser.wait(lambda d: browser.find(f"{item} .status").text.startswith("failed"), 60, "the upload to fail")
    browser.shot("upload-failed")
    assert browser.driver.execute_script("return window.__sent.filter(n => n === '1').length") == 1
    # The network is back: Resume sends the parts that are missing, not part 1 again.
    driver.execute_script("window.__failPart2 = false;")
    browser.find(f"{item} button.resume").click()
    browser.wait(lambda d: browser.find(f"{item} .status").text == "done", 60, "the resumed upload")
    sent = browser.driver.execute_script("return window.__sent")
    assert sent.count("1") == 1 and sent.count("3") == 1, sent
    assert s3.get_object(Bucket=BUCKET, Key="resumed.bin")["Body"].read() == big

    # A file dropped on the drop zone uploads like a chosen one.
    driver.execute_script(DROP_FILE, "dropped.txt", "dropped from the desktop")
    browser.wait(lambda d: browser.all('#uploads li[data-key="dropped.txt"] .status')
                 and browser.find('#uploads li[data-key="dropped.txt"] .status').text == "done", 30, "the dropped file")
    assert s3.get_object(Bucket=BUCKET, Key="dropped.txt")["Body"].read() == b"dropped from the desktop"
    browser.shot("dropped")
