import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from harness import ROOT_ACCESS_KEY, ROOT_SECRET_KEY  # noqa: E402

# Every server the tests start takes its root key from here, and every client signs with it.
os.environ["SOS_ROOT_ACCESS_KEY"] = ROOT_ACCESS_KEY
os.environ["SOS_ROOT_SECRET_KEY"] = ROOT_SECRET_KEY
os.environ["AWS_ACCESS_KEY_ID"] = ROOT_ACCESS_KEY
os.environ["AWS_SECRET_ACCESS_KEY"] = ROOT_SECRET_KEY
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
