// The release version, kept equal to package.json by a test (the binary has no package.json).
export const VERSION = '0.1.0';
