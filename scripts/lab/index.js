// The front end's entry: JupyterLab with the plugins of the packages in package.json, less those
// the page config disables ("disabledExtensions", from <jupyter config dir>/labconfig/page_config.json
// as `jupyter labextension disable` writes it), by package name or by plugin id, as JupyterLab does.
import { PageConfig } from '@jupyterlab/coreutils';

// Chunks and assets load from the server's static URL, which is known only at run time.
// eslint-disable-next-line no-undef
__webpack_public_path__ = PageConfig.getOption('fullStaticUrl') + '/';

import { extensions, mimeExtensions } from './build/static/extensions.js';

const disabled = (id) => PageConfig.Extension.isDisabled(id);

// The plugins of the packages not disabled as a whole, less the plugins disabled by id. The
// language-server plugins of the notebook and file editor need the language server protocol
// extension, which is not part of this build.
async function load(packages) {
  const modules = await Promise.all(packages.filter(({ name }) => !disabled(name)).map(({ load }) => load()));
  return modules.map((module) => {
    let plugins = module.default ?? module;
    if (!Array.isArray(plugins)) plugins = [plugins];
    return plugins.filter(({ id }) => !disabled(id) && !id.endsWith(':language-server'));
  });
}

window.addEventListener('load', async () => {
  await import('./build/static/style.js');
  const { JupyterLab } = await import('@jupyterlab/application');
  const lab = new JupyterLab({ mimeExtensions: (await load(mimeExtensions)).flat() });
  lab.registerPluginModules(await load(extensions));
  await lab.start();
  await lab.restored;
  document.body.dataset.labRestored = 'true';
});
