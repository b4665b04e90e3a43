"""The one thing pyproject.toml cannot say: a package whose files live outside `mailbot/`.

The reply templates are at the repository root (templates/replies), where AOG
edits them, and ship inside the wheel as `mailbot/templates/replies`. The
`packages.find` table of pyproject.toml can only find packages below their own
directory, so the packages are listed here: every one found in `mailbot/`
(namespace ones such as `mailbot/queries` included) and the templates.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["mailbot", "mailbot.*"], exclude=["*.__pycache__"]),
        "mailbot.templates",
        "mailbot.templates.replies",
    ],
    package_dir={"mailbot.templates": "templates"},
)
