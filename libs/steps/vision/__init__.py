"""Vision: finding a picture on a screen (scale-robust template matching with a colour check),
and the Box and Image types screens, OCR and documents share. OpenCV loads on first use."""
