"""OCR: the PP-OCR models on onnxruntime (RapidOCR; PaddleOCR optional) behind OcrEngine, the
ocr.* steps on image files, and the screen reader desktop steps use. No model loads on import."""
