"""Package metadata comes from settings.ini (nbdev 2 layout)."""
import shlex
from configparser import ConfigParser
from pathlib import Path

import setuptools

here = Path(__file__).parent
config = ConfigParser(delimiters=['='])
config.read(here/'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

required = 'version description keywords author author_email lib_name user branch license status min_python audience language git_url'.split()
missing = [k for k in required if not cfg.get(k)]
if missing: raise KeyError(f"settings.ini is missing: {', '.join(missing)}")

# SPDX expressions: setuptools deprecates license classifiers
licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT', 'bsd3': 'BSD-3-Clause', 'gpl3': 'GPL-3.0-only'}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()
min_python = cfg['min_python']

def reqs(key): return shlex.split(cfg.get(key, '').strip())

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=licenses.get(cfg['license'].lower(), cfg['license']),
    url=cfg['git_url'],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title()]
                + [f'Programming Language :: Python :: {v}' for v in py_versions[py_versions.index(min_python):]],
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    include_package_data=True,
    install_requires=reqs('requirements'),
    extras_require={key[:-len('_requirements')]: reqs(key) for key in cfg if key.endswith('_requirements')},  # dev, tensorboard, ...
    python_requires='>=' + min_python,
    zip_safe=False,
    entry_points={'console_scripts': reqs('console_scripts'),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
