// tinypool's thread bootstrap, listed as an entrypoint of the compiled binary so that it lands
// at /$bunfs/root/entry/worker.js, where tinypool looks for it (next to its own module URL).
// Only the build uses this file; build.ts resolves the specifier to tinypool's own file.
import 'tinypool/dist/entry/worker.js';
