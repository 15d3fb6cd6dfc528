"""Workflows for files and vector stores, by what they concern; every interface imports them from here.

`files.py` stores uploads, `vector_stores.py` makes stores and adds files to them (which starts their indexing in
the background, files.indexing), `searching.py` searches them (reading the database's full-text index,
files.search).
"""

from __future__ import annotations

from files.services.files import file_create, file_delete, files_of_user
from files.services.searching import (
    SEARCH_RESULTS_DEFAULT,
    SEARCH_RESULTS_MAX,
    SearchResult,
    vector_store_ids_check,
    vector_store_search,
    vector_stores_index_pending,
    vector_stores_ready,
)
from files.services.vector_stores import (
    THREAD_STORE_DAYS,
    file_batch_cancel,
    file_batch_create,
    store_files_add,
    vector_store_create,
    vector_store_delete,
    vector_store_file_create,
    vector_store_file_delete,
    vector_store_update,
)

__all__ = [
    "SEARCH_RESULTS_DEFAULT",
    "SEARCH_RESULTS_MAX",
    "THREAD_STORE_DAYS",
    "SearchResult",
    "file_batch_cancel",
    "file_batch_create",
    "file_create",
    "file_delete",
    "files_of_user",
    "store_files_add",
    "vector_store_create",
    "vector_store_delete",
    "vector_store_file_create",
    "vector_store_file_delete",
    "vector_store_ids_check",
    "vector_store_search",
    "vector_store_update",
    "vector_stores_index_pending",
    "vector_stores_ready",
]
