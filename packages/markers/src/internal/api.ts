import { TracelabError, isGeneratorFunction, type PluginContext } from '@tracelab/core';
import type { MarkersApi, MarkersState } from '../types.js';
import { DEFAULT_PRIO, markerProbeRegister, markerProbeUnregister, markerSynchronizeUnregister, traceMark } from '../marker.js';
import type { MarkersInstance } from './instance.js';
import { checkName, isSiteSpec } from './options.js';
import { closuresOf } from './registry.js';

/**
 * `kernel.api.markers`: the host's arguments checked (a bad one throws `INVALID_OPTION` naming
 * it), then the kernel paths of marker.ts.
 */
export function markersApi(ctx: PluginContext<MarkersState>, m: MarkersInstance): MarkersApi {
  const reg = m.reg;
  return {
    options: m.options,
    defineMarker: (name, format) => reg.defineCore(name, format),
    probeRegister: (name, format, probe, probePrivate, prio = DEFAULT_PRIO) => {
      checkName('probeRegister', name);
      if (format !== null && typeof format !== 'string')
        throw new TracelabError('INVALID_OPTION', `markers.probeRegister(${name}): format must be a string or null`);
      if (typeof probe !== 'function') throw new TracelabError('INVALID_OPTION', `markers.probeRegister(${name}): probe must be a function`);
      // Probes are called synchronously, on the real fast path (site.call) too: a generator
      // function's body would never run there. Refused here rather than silently never called.
      if (isGeneratorFunction(probe))
        throw new TracelabError(
          'INVALID_OPTION',
          `markers.probeRegister(${name}): probe ${probe.name || '(anonymous)'} is a generator function; marker probes are called synchronously, so its body would never run: write it as a plain function`,
        );
      if (!Number.isInteger(prio)) throw new TracelabError('INVALID_OPTION', `markers.probeRegister(${name}): prio must be an integer, got ${String(prio)}`);
      return markerProbeRegister(m, name, format, probe, probePrivate, prio);
    },
    probeUnregister: (name, probe, probePrivate) => {
      checkName('probeUnregister', name);
      if (typeof probe !== 'function') throw new TracelabError('INVALID_OPTION', `markers.probeUnregister(${name}): probe must be a function`);
      return markerProbeUnregister(m, name, probe, probePrivate);
    },
    loadModule: (module, sites) => {
      checkName('loadModule', module);
      if (!Array.isArray(sites) || !sites.every((x) => isSiteSpec(x))) {
        throw new TracelabError('INVALID_OPTION', `markers.loadModule(${module}): sites must be an array of { name, format } with C-identifier names`);
      }
      return ctx.paths.loadModule(module, { markers: sites.map((x) => ({ name: x.name, format: x.format })) });
    },
    unloadModule: (module) => {
      checkName('unloadModule', module);
      return ctx.paths.unloadModule(module);
    },
    mark: (name, callPrivate, ...args) => traceMark(m, name, callPrivate, args),
    synchronizeUnregister: () => markerSynchronizeUnregister(),
    probes: (name) => {
      const entry = reg.entries.get(name);
      return entry === undefined ? [] : closuresOf(entry).map((c) => ({ probe: c.probe, probePrivate: c.probePrivate }));
    },
    site: (name, module = null) => (module === null ? reg.coreSites.get(name) : reg.moduleSites.get(module)?.find((x) => x.name === name)),
    sites: () => reg.allSites(),
  };
}
