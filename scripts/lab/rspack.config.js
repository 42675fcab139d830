// Bundles JupyterLab's front end from the npm packages listed in package.json ("jupyterlab":
// "extensions" are application plugins, "mimeExtensions" output renderers) into build/static,
// with each extension's settings schemas and themes beside it, as jupyterlab_server serves them.
const fs = require('fs');
const path = require('path');
const rspack = require('@rspack/core');
const { Build } = require('@jupyter/builder');
const miniSVGDataURI = require('mini-svg-data-uri');
const pkg = require('./package.json');

const out = path.join(__dirname, 'build', 'static');
const { extensions, mimeExtensions } = pkg.jupyterlab;

// The module of a package that holds its plugins of one kind, as its package.json names it
// ("jupyterlab": {"extension": true | "lib/..."}): true means the package's main module.
function pluginModule(name, kind) {
  const entry = require(`${name}/package.json`).jupyterlab?.[kind];
  if (!entry) throw new Error(`${name} declares no JupyterLab ${kind}`);
  return entry === true ? name : `${name}/${entry}`;
}

// build/static/extensions.js: one loader per package, so index.js can leave out the packages and
// plugins that the page config disables before anything of theirs loads.
function writeExtensionsModule() {
  const line = (name, kind) => `  { name: ${JSON.stringify(name)}, load: () => import(${JSON.stringify(pluginModule(name, kind))}) },`;
  const text = [
    '// Written by rspack.config.js from package.json: do not edit.',
    'export const extensions = [',
    ...extensions.map((name) => line(name, 'extension')),
    '];',
    'export const mimeExtensions = [',
    ...mimeExtensions.map((name) => line(name, 'mimeExtension')),
    '];',
    '',
  ].join('\n');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'extensions.js'), text);
}

// Copies schemas and themes into build/static/{schemas,themes} and writes build/static/style.js.
const assetConfigs = Build.ensureAssets({ packageNames: [...extensions, ...mimeExtensions], output: out });
writeExtensionsModule();

module.exports = [
  {
    entry: { bundle: path.join(__dirname, 'index.js') },
    output: { path: out, filename: '[name].js', chunkFilename: '[name].[contenthash].js', clean: false },
    mode: 'production',
    devtool: false,
    bail: true,
    performance: { hints: false },
    module: {
      rules: [
        // Some packages ship ES modules whose imports leave out the file extension.
        { test: /\.m?js$/, type: 'javascript/auto', resolve: { fullySpecified: false } },
        { test: /\.css$/, use: [require.resolve('style-loader'), require.resolve('css-loader')] },
        { test: /\.raw\.css$/, type: 'asset/source' },
        { test: /\.html$/, type: 'asset/resource' },
        { test: /\.md$/, type: 'asset/source' },
        { test: /\.(jpg|png|gif)$/, type: 'asset/resource' },
        { test: /\.(woff2?|ttf)(\?v=\d+\.\d+\.\d+)?$/, type: 'asset' },
        { test: /\.eot(\?v=\d+\.\d+\.\d+)?$/, type: 'asset/resource' },
        // Icons: inline data URIs where CSS uses them, the SVG text where code imports them.
        {
          test: /\.svg(\?v=\d+\.\d+\.\d+)?$/,
          issuer: /\.css$/,
          type: 'asset/inline',
          generator: { dataUrl: { content: (content) => miniSVGDataURI(content.content), mimetype: 'image/svg+xml' } },
        },
        { test: /\.svg(\?v=\d+\.\d+\.\d+)?$/, issuer: /\.m?js$/, type: 'asset/source' },
      ],
    },
    plugins: [
      // Some packages read process.cwd() or process.env, which browsers lack.
      new rspack.DefinePlugin({ process: { cwd: () => '/', env: {} } }),
    ],
  },
].concat(assetConfigs);
