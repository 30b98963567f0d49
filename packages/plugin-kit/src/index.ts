export { PLUGIN_NAME_PATTERN, pluginGenerator, pluginNameProblem, type PluginGeneratorSchema } from './plugin.js';
