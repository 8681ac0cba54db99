// Format detection by content: magic bytes decide, names and extensions never do.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RASTER_FORMATS, sniffFormat } from '../../src/analysis/sniff.ts';
import { caseFile, concat, corpusFile, encodePng, sharedSkipReason } from './fixtures.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

function ftyp(major: string, ...compatible: string[]): Uint8Array {
  const brands = [major, '\0\0\0\0', ...compatible].join('');
  const size = 8 + brands.length;
  return concat([bytes(0, 0, 0, size), text('ftyp'), text(brands), new Uint8Array(32)]);
}

describe('sniffFormat', () => {
  it('recognises the raster formats by their magic bytes', () => {
    assert.equal(sniffFormat(bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0x10)), 'jpeg');
    assert.equal(sniffFormat(encodePng(1, 1, 1, bytes(0))), 'png');
    assert.equal(sniffFormat(text('GIF89a......')), 'gif');
    assert.equal(sniffFormat(text('GIF87a......')), 'gif');
    assert.equal(sniffFormat(concat([text('RIFF'), bytes(0, 0, 0, 0), text('WEBPVP8 ')])), 'webp');
    assert.equal(sniffFormat(bytes(0x49, 0x49, 0x2a, 0, 8, 0, 0, 0)), 'tiff');
    assert.equal(sniffFormat(bytes(0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8)), 'tiff');
    assert.equal(sniffFormat(bytes(0x49, 0x49, 0x2b, 0, 8, 0, 0, 0)), 'tiff');
  });

  it('tells AVIF from HEVC HEIF by the ftyp brands, AVIF winning over generic mif1', () => {
    assert.equal(sniffFormat(ftyp('avif', 'mif1', 'miaf')), 'avif');
    assert.equal(sniffFormat(ftyp('mif1', 'avif', 'miaf')), 'avif');
    assert.equal(sniffFormat(ftyp('heic', 'mif1', 'heic')), 'heif');
    assert.equal(sniffFormat(ftyp('mif1', 'heic')), 'heif');
    assert.equal(sniffFormat(ftyp('heix')), 'heif');
    assert.equal(sniffFormat(ftyp('isom', 'iso2', 'mp41')), 'video');
  });

  it('names vector, document and other non-photo inputs instead of guessing', () => {
    assert.equal(sniffFormat(text('<svg xmlns="http://www.w3.org/2000/svg"/>')), 'svg');
    assert.equal(sniffFormat(text('\ufeff  \n<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<svg>&x;</svg>')), 'svg');
    assert.equal(sniffFormat(text('<?xml version="1.0"?><rss/>')), 'xml');
    assert.equal(sniffFormat(text('<!DOCTYPE html><html><body>403</body></html>')), 'html');
    assert.equal(sniffFormat(text('%PDF-1.7\n')), 'pdf');
    assert.equal(sniffFormat(bytes(0x1f, 0x8b, 8, 0)), 'gzip');
    assert.equal(sniffFormat(text('8BPS\0\x01')), 'psd');
    assert.equal(sniffFormat(bytes(0xff, 0x0a, 0xfa)), 'jxl');
    assert.equal(sniffFormat(bytes(0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a)), 'jp2');
    assert.equal(sniffFormat(new Uint8Array(0)), 'empty');
    assert.equal(sniffFormat(text('hello world')), 'unknown');
  });

  it('needs a plausible DIB header before calling something BMP', () => {
    const bmp = new Uint8Array(54);
    bmp.set(text('BM'));
    bmp[14] = 40;
    assert.equal(sniffFormat(bmp), 'bmp');
    assert.equal(sniffFormat(text('BMW is a car maker, not a bitmap')), 'unknown');
  });

  it('keeps vector and document formats out of the raster set', () => {
    for (const f of ['svg', 'xml', 'html', 'pdf', 'bmp', 'unknown', 'empty'] as const) assert.equal(RASTER_FORMATS.has(f), false, f);
    for (const f of ['jpeg', 'png', 'gif', 'webp', 'tiff', 'avif'] as const) assert.equal(RASTER_FORMATS.has(f), true, f);
  });

  it('judges the shared files by content, not by name', { skip: sharedSkipReason() }, () => {
    assert.equal(sniffFormat(caseFile('bmp_named.jpg')), 'bmp');
    assert.equal(sniffFormat(caseFile('svg_xxe_entity.svg')), 'svg');
    assert.equal(sniffFormat(caseFile('iphone_like.heic')), 'heif');
    assert.equal(sniffFormat(caseFile('empty.jpg')), 'empty');
    assert.equal(sniffFormat(corpusFile('heif_samplefilehub.heif')), 'heif');
    assert.equal(sniffFormat(corpusFile('tiff_BSG1.tiff')), 'tiff');
    assert.equal(sniffFormat(caseFile('anim.gif')), 'gif');
  });
});
