// Everything the bot says to people, in one replaceable table (Russian by default).
import type { PhotoFailureReason, RetakeReason } from '../analysis/types.ts';

export interface Texts {
  ack: string;
  noPhoto: string;
  hint: string;
  resultOne: string;
  resultMany: string;
  photoLabel: string;
  verdictOk: string;
  verdictRetake: string;
  failed: string;
  failure: Record<PhotoFailureReason, { reason: string; hint: string }>;
  retake: Record<RetakeReason, string>;
  gpsWarning: string;
  camera: string;
  takenAt: string;
  exposureOk: string;
  sharpnessOk: string;
  frames: string;
  leftOut: string;
  overLimit: string;
  unknownFormat: string;
}

export const RUSSIAN_TEXTS: Texts = {
  ack: 'Заявка принята! Ожидайте ответа после проверки фотографии!',
  noPhoto: 'Вы не прислали фотографию!',
  hint: 'Чтобы подать заявку, отправьте сообщение «подать заявку» и приложите фотографию.',
  resultOne: 'Мы проанализировали Вашу фотографию и узнали:',
  resultMany: 'Мы проанализировали Ваши фотографии ({count}) и узнали:',
  photoLabel: 'Фото {n}',
  verdictOk: 'Итог: фотография подходит.',
  verdictRetake: 'Итог: лучше переснять — {reasons}.',
  failed: 'не удалось проверить: {reason}. {hint}',
  failure: {
    too_large: {
      reason: 'изображение слишком большое',
      hint: 'Пришлите фотографию меньшего размера (до {maxMegapixels} Мп, до {maxMegabytes} МБ).',
    },
    too_small: { reason: 'изображение слишком маленькое', hint: 'Пришлите фотографию не меньше {minSide}×{minSide} пикселей.' },
    unsupported_format: {
      reason: 'этот формат не поддерживается ({format})',
      hint: 'Отправьте снимок как фотографию (не файлом) или в формате JPEG или PNG.',
    },
    corrupt: { reason: 'файл повреждён или загружен не полностью', hint: 'Пожалуйста, отправьте фотографию ещё раз.' },
    download_failed: { reason: 'не удалось загрузить фотографию', hint: 'Пожалуйста, отправьте её ещё раз.' },
    worker_crashed: { reason: 'фотографию не удалось обработать', hint: 'Попробуйте отправить её ещё раз или пришлите другой снимок.' },
  },
  retake: {
    too_dark: 'слишком тёмная',
    overexposed: 'пересвечена',
    blurry: 'нерезкая (размыта)',
    low_resolution: 'низкое разрешение',
    duplicate: 'этот снимок уже присылали в одной из прошлых заявок',
  },
  gpsWarning: '⚠ В файле есть геометка (GPS): по ней видно, где сделан снимок.',
  camera: 'камера {camera}',
  takenAt: 'снято {date}',
  exposureOk: 'экспозиция в норме',
  sharpnessOk: 'резкость в норме',
  frames: 'анимация из {frames} кадров, проверен первый',
  leftOut: 'Проверены первые {analysed} из {received} присланных фотографий; остальные пришлите отдельной заявкой.',
  unknownFormat: 'неизвестный формат',
  overLimit: 'Вы уже подали много заявок за последний час (не больше {limit}). Пожалуйста, пришлите следующую позже.',
};

/** Fills {name} placeholders; unknown names stay visible so a typo in a text is noticed. */
export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}
