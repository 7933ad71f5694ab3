#!/usr/bin/env python3
"""Real-browser test of the training dashboard (nbs/19_dashboard_demo.ipynb) in JupyterLab and Chromium.

It starts JupyterLab (its own JUPYTER_* folders in a temporary directory, 127.0.0.1, no token), opens a copy of the
demo notebook in Debian's Chromium through playwright, runs its cells, moves the λ slider with the keyboard and the
β slider with a mouse drag, reads back FROM THE KERNEL (a cell that prints the history's last row) that the running
training used the new values, checks that the code-map, histogram, reconstruction and sampled-image images are on
the page and change, tries the caption panel, saves screenshots, stops the run, and stops every process it started,
by PID, also on failure.

Installs nothing. Needs: `apt-get install -y chromium` and the project's dev requirements (jupyterlab, playwright;
never `playwright install`). Run from anywhere with the project's Python:

    python .ci/browser_test.py [--screenshots nbs/images] [--timeout 115] [--screenshot-step 300]

Last line: "BROWSER TEST PASS (N s)" or "BROWSER TEST FAIL: why (N s)"; exit status 0 or 1.
"""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT/'nbs'/'19_dashboard_demo.ipynb'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']
IMAGES = {'code maps': 'img.text-vq-codemaps', 'usage histogram': 'img.text-vq-usage',
          'reconstructions': 'img.text-vq-reconstructions', 'sampled images': 'img.text-vq-sampled',
          'curves': 'img.text-vq-curves'}
T0 = time.monotonic()


class TestFailure(Exception): pass


def log(message): print(f"[{time.monotonic() - T0:5.1f}s] {message}", flush=True)

def check(condition, message):
    if not condition: raise TestFailure(message)


# --- processes -------------------------------------------------------------------------------------------------------
def children_of(pid:int) -> list[int]:
    "PIDs of every live descendant of `pid` (read from /proc)."
    parents = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit(): continue
        try: stat = (entry/'stat').read_text()
        except OSError: continue
        parents.setdefault(int(stat.rsplit(')', 1)[1].split()[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []): found.append(child); todo.append(child)
    return found

def alive(pid:int) -> bool:
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
        return state != 'Z'
    except OSError: return False

def end_pid(pid:int, grace:float=5.):
    "SIGTERM `pid`, then SIGKILL it if it is still alive after `grace` seconds."
    if not alive(pid): return
    try: os.kill(pid, signal.SIGTERM)
    except ProcessLookupError: return
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline: time.sleep(0.05)
    if alive(pid):
        try: os.kill(pid, signal.SIGKILL)
        except ProcessLookupError: pass


# --- JupyterLab ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def prepare(tmp:Path) -> dict:
    "Jupyter folders, settings and a copy of the demo notebook under `tmp`; returns the server's environment."
    work = tmp/'work'; work.mkdir()
    nb = json.loads(DEMO.read_text())
    # nbdev_clean drops the kernelspec; without one JupyterLab asks which kernel to start
    nb['metadata']['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3 (ipykernel)', 'language': 'python'}
    (work/'demo.ipynb').write_text(json.dumps(nb))
    config = tmp/'config'
    settings = {'@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
                '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false', 'checkForUpdates': False}}
    for name, value in settings.items():
        path = config/'lab'/'user-settings'/name
        path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(value))
    (config/'labconfig').mkdir(parents=True)
    (config/'labconfig'/'page_config.json').write_text(json.dumps(
        {'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(tmp/'data'),
               JUPYTER_RUNTIME_DIR=str(tmp/'runtime'), IPYTHONDIR=str(tmp/'ipython'), MPLBACKEND='Agg',
               OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    env.pop('JUPYTER_PATH', None)
    return env

def start_lab(tmp:Path, env:dict, port:int) -> subprocess.Popen:
    server_log = open(tmp/'jupyter.log', 'w')
    return subprocess.Popen(
        [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip', '127.0.0.1', f'--port={port}',
         '--ServerApp.token=', '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True', '--allow-root',
         f'--ServerApp.root_dir={tmp/"work"}', '--ServerApp.port_retries=0'],
        env=env, stdout=server_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp/'work')

def api(base:str, path:str, method:str='GET'):
    with urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=5) as response:
        body = response.read()
        return json.loads(body) if body else None

def wait_ready(base:str, server:subprocess.Popen, timeout:float=40.):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check(server.poll() is None, f"JupyterLab exited with status {server.returncode}")
        try: api(base, '/api/status'); return
        except OSError: time.sleep(0.2)
    raise TestFailure(f"JupyterLab did not answer /api/status within {timeout} s")

def stop_kernels(base:str):
    "Shut the server's kernels down through its REST API (the clean way; PIDs are the backstop)."
    try:
        for kernel in api(base, '/api/kernels'): api(base, f"/api/kernels/{kernel['id']}", 'DELETE')
    except OSError as e: log(f"could not shut kernels down through the API: {e}")


# --- the page ----------------------------------------------------------------------------------------------------------
def cell_with(page, text:str):
    cells = page.locator('.jp-Notebook .jp-CodeCell').filter(has_text=text)
    check(cells.count() == 1, f"expected one code cell containing {text!r}, found {cells.count()}")
    return cells.first

def run_cell(page, cell, timeout:float=90.):
    "Run `cell` from the keyboard and wait until its prompt shows an execution count."
    cell.locator('.jp-InputArea-editor').click()
    page.keyboard.press('Escape')
    page.keyboard.press('Shift+Enter')
    prompt = cell.locator('.jp-InputPrompt')
    deadline = time.monotonic() + timeout
    while not re.search(r'\[\d+\]', prompt.inner_text()):
        check(time.monotonic() < deadline, f"cell did not finish within {timeout} s")
        time.sleep(0.1)
    output = cell.locator('.jp-OutputArea').inner_text()
    check('Traceback (most recent call last)' not in output, f"the cell raised:\n{output[-2000:]}")
    return output

DIGEST_JS = """async (selector) => {
  const img = document.querySelector(selector);
  if (!img || !img.src || !img.complete || img.naturalWidth === 0) return null;
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let hash = 0;
  for (const b of bytes) hash = (Math.imul(hash, 31) + b) >>> 0;
  return `${bytes.length}:${hash}:${img.naturalWidth}x${img.naturalHeight}`;
}"""

def wait_for_new_image(page, selector:str, before, what:str, timeout:float=20.):
    deadline = time.monotonic() + timeout
    while page.evaluate(DIGEST_JS, selector) in (None, before):
        check(time.monotonic() < deadline, f"{what}: the image did not change within {timeout} s")
        time.sleep(0.2)

def digests(page) -> dict: return {name: page.evaluate(DIGEST_JS, selector) for name, selector in IMAGES.items()}

def readout(page, name:str) -> float:
    return float(page.locator(f'.text-vq-{name} .widget-readout').inner_text())

def used_values(output:str) -> dict:
    match = re.search(r'USED step=(\d+) lambda=([\d.]+) beta=([\d.]+) quantizer_beta=([\d.]+)', output)
    check(match is not None, f"the read-back cell printed no USED line:\n{output}")
    return dict(step=int(match[1]), lambda_=float(match[2]), beta=float(match[3]), quantizer_beta=float(match[4]))

def drive(page, base:str, shots:Path, screenshot_step:int):
    page.goto(f'{base}/lab/tree/demo.ipynb')
    page.locator('.jp-StatusBar-TextItem:has-text("| Idle")').first.wait_for(timeout=60_000)
    log("notebook open, kernel idle")
    run_cell(page, cell_with(page, 'shapes_data('))
    run_cell(page, cell_with(page, 'dash.start()'))
    page.locator('.text-vq-dashboard').wait_for(timeout=30_000)
    for selector in IMAGES.values(): page.locator(selector).wait_for(timeout=60_000)
    deadline = time.monotonic() + 30
    while None in (before := digests(page)).values():
        check(time.monotonic() < deadline, f"images never loaded: {before}")
        time.sleep(0.2)
    log(f"dashboard drawn: {before}")
    lambda_start, beta_start = readout(page, 'lambda_xent'), readout(page, 'beta')

    # λ with the keyboard: focus its handle, 25 steps of 0.01 to the right
    page.locator('.text-vq-lambda_xent .noUi-handle').focus()
    for _ in range(25): page.keyboard.press('ArrowRight')
    lambda_new = readout(page, 'lambda_xent')
    check(abs(lambda_new - (lambda_start + 0.25)) < 1e-6, f"λ readout {lambda_new} after 25 arrow presses from {lambda_start}")
    # β with the mouse: drag its handle to 60 % of the track (range 0..2)
    handle = page.locator('.text-vq-beta .noUi-handle').bounding_box()
    track = page.locator('.text-vq-beta .noUi-target').bounding_box()
    y = handle['y'] + handle['height'] / 2
    page.mouse.move(handle['x'] + handle['width'] / 2, y)
    page.mouse.down()
    page.mouse.move(track['x'] + 0.6 * track['width'], y, steps=12)
    page.mouse.up()
    beta_new = readout(page, 'beta')
    check(abs(beta_new - beta_start) > 0.3, f"β readout {beta_new} barely moved from {beta_start} by the drag")
    log(f"sliders moved in the page: λ {lambda_start} -> {lambda_new}, β {beta_start} -> {beta_new}")

    # the kernel reads back what the running training used
    output = run_cell(page, cell_with(page, 'wait_for_step'))
    used = used_values(output)
    log(f"kernel read back: {used}")
    check(abs(used['lambda_'] - lambda_new) < 0.006, f"training used λ={used['lambda_']}, the slider shows {lambda_new}")
    check(abs(used['beta'] - beta_new) < 0.006, f"training used β={used['beta']}, the slider shows {beta_new}")
    check(abs(used['quantizer_beta'] - beta_new) < 0.006, f"the quantizer's β is {used['quantizer_beta']}, the slider shows {beta_new}")
    check(f"{lambda_start:.1f}" in output.split('lambda values used so far:')[1].split('\n')[0],
          f"the history lost the starting λ {lambda_start}:\n{output}")

    # every panel's image changes as the run goes on
    deadline = time.monotonic() + 30
    while True:
        after = digests(page)
        unchanged = [name for name in IMAGES if after[name] in (None, before[name])]
        if not unchanged: break
        check(time.monotonic() < deadline, f"images did not change within 30 s: {unchanged}")
        time.sleep(0.3)
    log("every panel image changed")
    # the step counter runs on (it is refreshed about five times a second)
    deadline = time.monotonic() + 20
    while (step := int(page.locator('.text-vq-step input').input_value())) <= used['step']:
        check(time.monotonic() < deadline, f"the step counter shows {step}, not beyond the read-back step {used['step']}")
        time.sleep(0.2)
    # the README's screenshot shows a run a few hundred steps in (or as far as it got in 40 s)
    deadline = time.monotonic() + 40
    while int(page.locator('.text-vq-step input').input_value()) < screenshot_step and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.5)  # let a redraw land after the counter moved
    shots.mkdir(parents=True, exist_ok=True)
    dashboard = page.locator('.text-vq-dashboard')
    dashboard.scroll_into_view_if_needed()
    dashboard.screenshot(path=str(shots/'dashboard.png'))

    # the other tabs redraw from the running model when opened
    explorer_before = page.evaluate(DIGEST_JS, 'img.text-vq-explorer')
    page.locator('.text-vq-dashboard .lm-TabBar-tab', has_text='Codebook explorer').click()
    wait_for_new_image(page, 'img.text-vq-explorer', explorer_before, 'the explorer, on opening its tab')
    dashboard.screenshot(path=str(shots/'dashboard_explorer.png'))
    generated_before = page.evaluate(DIGEST_JS, 'img.text-vq-generated')
    page.locator('.text-vq-dashboard .lm-TabBar-tab', has_text='Text → image').click()
    caption = page.locator('.text-vq-text-panel input[type="text"]')
    caption.fill('big purple circle top left')
    caption.press('Enter')
    page.locator('.text-vq-flags b', has_text='purple').wait_for(timeout=20_000)
    wait_for_new_image(page, 'img.text-vq-generated', generated_before, 'the generated images, for the new caption')
    time.sleep(1)  # the tab opening and the caption each trigger a draw: let the last one land
    dashboard.screenshot(path=str(shots/'dashboard_text.png'))
    page.locator('.text-vq-dashboard .lm-TabBar-tab', has_text='Training').click()
    log(f"screenshots saved in {shots}")

    output = run_cell(page, cell_with(page, 'dash.stop()'))
    check('STOPPED state=stopped' in output, f"the stop cell printed:\n{output}")
    log(output.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--screenshots', default=str(ROOT/'nbs'/'images'), help='folder for dashboard*.png')
    parser.add_argument('--timeout', type=float, default=115., help='seconds before the whole test fails')
    parser.add_argument('--screenshot-step', type=int, default=300, help='take the screenshots once the run is this far (waits 40 s at most)')
    found = next(filter(None, map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome'))), '/usr/bin/chromium')
    parser.add_argument('--chromium', default=found, help='the browser playwright drives (Debian chromium, or Chrome)')
    args = parser.parse_args()

    def out_of_time(signum, frame): raise TestFailure(f"the test ran past {args.timeout:.0f} s")
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.timeout))
    tmp = Path(tempfile.mkdtemp(prefix='text_vq_browser_'))
    server, failure, started = None, None, []
    try:
        check(Path(args.chromium).exists(), f"no Chromium at {args.chromium} (apt-get install -y chromium)")
        from playwright.sync_api import sync_playwright
        env, port = prepare(tmp), free_port()
        base = f'http://127.0.0.1:{port}'
        server = start_lab(tmp, env, port)
        started.append(server.pid)
        wait_ready(base, server)
        log(f"JupyterLab (pid {server.pid}) ready at {base}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={'width': 1400, 'height': 1500})
                page.set_default_timeout(30_000)
                drive(page, base, Path(args.screenshots), args.screenshot_step)
            finally:
                started.extend(children_of(os.getpid()))  # the browser and playwright's driver, closed below
                browser.close()
    except BaseException as e:
        failure = e
    finally:
        signal.alarm(0)
        if server is not None:
            kernels = children_of(server.pid)
            if server.poll() is None: stop_kernels(f'http://127.0.0.1:{port}')
            end_pid(server.pid)
            for pid in kernels: end_pid(pid, grace=2)
        for pid in started + children_of(os.getpid()): end_pid(pid, grace=2)
        leftover = [pid for pid in started + children_of(os.getpid()) if alive(pid)]
        if failure is not None and (tmp/'jupyter.log').exists():
            print('--- JupyterLab log (tail) ---\n' + (tmp/'jupyter.log').read_text()[-3000:], flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - T0
    if failure is None and leftover: failure = TestFailure(f"processes still alive after cleanup: {leftover}")
    if failure is not None:
        detail = str(failure) if isinstance(failure, TestFailure) else f"{type(failure).__name__}: {failure}"
        print(f"BROWSER TEST FAIL: {detail} ({elapsed:.0f} s)", flush=True)
        sys.exit(1)
    print(f"BROWSER TEST PASS ({elapsed:.0f} s)", flush=True)


if __name__ == '__main__':
    main()
