"""Tiny but real sample files of every type, generated locally (no network)."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass


def wav_bytes() -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(b"\x80" * 80)
    return buffer.getvalue()


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    content_type: str
    metadata: dict[str, str] | None = None


def png_bytes(seed: int = 0) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (4, 4), color=(seed % 256, (seed * 7) % 256, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(seed: int = 0) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (4, 4), color=(seed % 256, 40, 200))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def dicom_bytes(series_uid: str, instance: int, *, with_preamble: bool = True) -> bytes:
    """A small valid DICOM file (8x8 pixels) with the given series and instance number."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.SeriesInstanceUID = series_uid
    dataset.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    dataset.InstanceNumber = instance
    dataset.Modality = "OT"
    dataset.PatientName = "Test^Patient"
    dataset.Rows = 8
    dataset.Columns = 8
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 8
    dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = bytes(range(64))
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def nifti_bytes(compressed: bool = False) -> bytes:
    import nibabel
    import numpy

    image = nibabel.Nifti1Image(numpy.zeros((2, 2, 2), dtype=numpy.int16), numpy.eye(4))
    data: bytes = image.to_bytes()
    return gzip.compress(data) if compressed else data


def pdf_bytes() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def mp4_bytes() -> bytes:
    # An ftyp box is enough for a file to be recognisably MP4; the function never decodes it.
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 32


def demo_drop() -> list[Sample]:
    """The demo's drop: 1,200 images and 130 videos in one folder, a few of everything else."""
    image = png_bytes()
    video = mp4_bytes()
    samples = [
        Sample(f"site-a/cam 1/frame_{index:05d}.png", image, "image/png") for index in range(1200)
    ]
    samples += [
        Sample(
            f"site-a/cam 1/clip_{index:04d}.mp4",
            video,
            "video/mp4",
            {"keyframes": "[0, 12]", "operator": "night shift"},
        )
        for index in range(130)
    ]
    samples += [
        Sample("site-a/special/1+(32).jpg", jpeg_bytes(), "image/jpeg"),
        Sample("site-a/special/写真 #1?.JPG", jpeg_bytes(1), "image/jpeg"),
        Sample("audio/interview 1.wav", wav_bytes(), "audio/wav"),
        Sample("audio/interview 2.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        Sample("docs/report.pdf", pdf_bytes(), "application/pdf"),
        Sample("docs/notes.md", b"# Notes\n", "text/markdown"),
        Sample("docs/table.csv", b"a,b\n1,2\n", "text/csv"),
        Sample("scans/brain.nii.gz", nifti_bytes(compressed=True), "application/gzip"),
        Sample("scans/knee.nii", nifti_bytes(), "application/octet-stream"),
        Sample("dicom/study-1/slice_2.dcm", dicom_bytes("1.2.3.4.1", 2), "application/dicom"),
        Sample("dicom/study-1/slice_10.dcm", dicom_bytes("1.2.3.4.1", 10), "application/dicom"),
        # Rejected, each for its own reason:
        Sample("site-a/.DS_Store", b"\0", "application/octet-stream"),
        Sample("site-a/empty-folder/", b"", "application/x-directory"),
        Sample("site-a/model.onnx", b"\0\1", "application/octet-stream"),
        Sample("site-a/" + "x" * 301 + ".jpg", jpeg_bytes(2), "image/jpeg"),
    ]
    return samples
