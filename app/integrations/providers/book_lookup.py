"""Bibliographic record of a book by ISBN."""

from pydantic import BaseModel

from app.integrations.providers._demo import DemoProvider


class BookInfo(BaseModel):
    isbn: str
    title: str
    authors: list[str]
    publisher: str
    published_year: int
    page_count: int


class BookLookupProvider(DemoProvider):
    name = "book_lookup"
    description = "Title, authors, publisher and page count of a book, by ISBN."
    path = "isbn"
    query = {"isbn": "9780140449136"}
    response_model = BookInfo
