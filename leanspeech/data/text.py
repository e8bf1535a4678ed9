"""Sentences for the TTS voices, generated offline from templates and word lists (deterministic per generator).

A slot `{verb2}` draws again from the `verb` list; `{n}` and `{h}` are a room number and an hour.
Subjects are stored lower-case (German nouns keep their capitals) and a sentence's first letter is raised.
"""

from __future__ import annotations

import re
from typing import Iterator

import numpy as np

_WORDS: dict[str, dict[str, list[str]]] = {
    "en": {
        "time": ["yesterday", "last winter", "this morning", "on Sunday", "late at night", "before lunch",
                 "after the storm", "a week ago", "early in the spring", "during the holidays"],
        "subject": ["the old farmer", "my sister", "a young doctor", "the driver", "our neighbour", "the teacher",
                    "a tired student", "the captain", "his brother", "the baker", "every visitor", "the little girl"],
        "verb": ["found", "painted", "carried", "lost", "repaired", "sold", "bought", "opened", "cleaned",
                 "described", "forgot", "borrowed"],
        "object": ["a blue umbrella", "the heavy box", "an old map", "three green apples", "the broken clock",
                   "a letter from home", "the wooden chair", "a bag of rice", "the silver key", "two tickets",
                   "a small boat", "the red bicycle"],
        "place": ["near the station", "in the kitchen", "behind the school", "at the market", "on the bridge",
                  "under the tree", "in the garden", "by the river", "at the museum", "on the train",
                  "in the library", "at the harbour"],
    },
    "es": {
        "time": ["ayer", "el invierno pasado", "esta mañana", "el domingo", "muy tarde por la noche",
                 "antes del almuerzo", "después de la tormenta", "hace una semana"],
        "subject": ["el viejo granjero", "mi hermana", "una médica joven", "el conductor", "nuestro vecino",
                    "la maestra", "un estudiante cansado", "el capitán", "su hermano", "la panadera"],
        "verb": ["encontró", "pintó", "llevó", "perdió", "reparó", "vendió", "compró", "abrió", "limpió", "olvidó"],
        "object": ["un paraguas azul", "la caja pesada", "un mapa antiguo", "tres manzanas verdes", "el reloj roto",
                   "una carta de casa", "la silla de madera", "una bolsa de arroz", "la llave de plata", "dos billetes"],
        "place": ["cerca de la estación", "en la cocina", "detrás de la escuela", "en el mercado", "sobre el puente",
                  "debajo del árbol", "en el jardín", "junto al río", "en el museo", "en el tren"],
    },
    "fr": {
        "time": ["hier", "l'hiver dernier", "ce matin", "dimanche", "tard dans la nuit", "avant le déjeuner",
                 "après l'orage", "il y a une semaine"],
        "subject": ["le vieux fermier", "ma sœur", "une jeune médecin", "le chauffeur", "notre voisin", "la maîtresse",
                    "un étudiant fatigué", "le capitaine", "son frère", "la boulangère"],
        "verb": ["a trouvé", "a peint", "a porté", "a perdu", "a réparé", "a vendu", "a acheté", "a ouvert",
                 "a nettoyé", "a oublié"],
        "object": ["un parapluie bleu", "la boîte lourde", "une vieille carte", "trois pommes vertes",
                   "l'horloge cassée", "une lettre de la maison", "la chaise en bois", "un sac de riz",
                   "la clé en argent", "deux billets"],
        "place": ["près de la gare", "dans la cuisine", "derrière l'école", "au marché", "sur le pont", "sous l'arbre",
                  "dans le jardin", "au bord de la rivière", "au musée", "dans le train"],
    },
    "it": {
        "time": ["ieri", "l'inverno scorso", "stamattina", "domenica", "a tarda notte", "prima di pranzo",
                 "dopo il temporale", "una settimana fa"],
        "subject": ["il vecchio contadino", "mia sorella", "una giovane dottoressa", "l'autista", "il nostro vicino",
                    "la maestra", "uno studente stanco", "il capitano", "suo fratello", "la fornaia"],
        "verb": ["ha trovato", "ha dipinto", "ha portato", "ha perso", "ha riparato", "ha venduto", "ha comprato",
                 "ha aperto", "ha pulito", "ha dimenticato"],
        "object": ["un ombrello blu", "la scatola pesante", "una vecchia mappa", "tre mele verdi", "l'orologio rotto",
                   "una lettera da casa", "la sedia di legno", "un sacco di riso", "la chiave d'argento",
                   "due biglietti"],
        "place": ["vicino alla stazione", "in cucina", "dietro la scuola", "al mercato", "sul ponte", "sotto l'albero",
                  "in giardino", "lungo il fiume", "al museo", "sul treno"],
    },
    "de": {
        "time": ["gestern", "letzten Winter", "heute Morgen", "am Sonntag", "spät in der Nacht",
                 "vor dem Mittagessen", "nach dem Sturm", "vor einer Woche"],
        "subject": ["der alte Bauer", "meine Schwester", "eine junge Ärztin", "der Fahrer", "unser Nachbar",
                    "die Lehrerin", "ein müder Student", "der Kapitän", "sein Bruder", "die Bäckerin"],
        "verb": ["gefunden", "gemalt", "getragen", "verloren", "repariert", "verkauft", "gekauft", "geöffnet",
                 "geputzt", "vergessen"],
        "object": ["einen blauen Schirm", "die schwere Kiste", "eine alte Karte", "drei grüne Äpfel",
                   "die kaputte Uhr", "einen Brief von zu Hause", "den Holzstuhl", "einen Sack Reis",
                   "den silbernen Schlüssel", "zwei Fahrkarten"],
        "place": ["am Bahnhof", "in der Küche", "hinter der Schule", "auf dem Markt", "auf der Brücke",
                  "unter dem Baum", "im Garten", "am Fluss", "im Museum", "im Zug"],
    },
}

_TEMPLATES: dict[str, list[str]] = {
    "en": ["{time}, {subject} {verb} {object} {place}.",
           "{subject} {verb} {object} {place} and then {verb2} {object2}.",
           "The meeting moved to room {n} at {h} o'clock, so {subject} {verb} {object} {place}."],
    "es": ["{time}, {subject} {verb} {object} {place}.",
           "{subject} {verb} {object} {place} y después {verb2} {object2}.",
           "La reunión pasó a la sala {n} a las {h}, así que {subject} {verb} {object}."],
    "fr": ["{time}, {subject} {verb} {object} {place}.",
           "{subject} {verb} {object} {place}, puis {verb2} {object2}.",
           "La réunion a lieu dans la salle {n} à {h} heures, alors {subject} {verb} {object}."],
    "it": ["{time}, {subject} {verb} {object} {place}.",
           "{subject} {verb} {object} {place} e poi {verb2} {object2}.",
           "La riunione è nella sala {n} alle {h}, così {subject} {verb} {object}."],
    "de": ["{time} hat {subject} {object} {place} {verb}.",
           "{subject} hat {object} {place} {verb} und danach {object2} {verb2}.",
           "Das Treffen ist in Raum {n} um {h} Uhr, also hat {subject} {object} {verb}."],
}

LANGUAGES = tuple(sorted(_WORDS))
_SLOT = re.compile(r"\{(\w+?)\d*\}")


def make_sentence(language: str, rng: np.random.Generator) -> str:
    """One sentence in `language` (one of LANGUAGES)."""
    if language not in _WORDS:
        raise ValueError(f"no sentence templates for language {language!r}; known: {', '.join(LANGUAGES)}")
    words = {**_WORDS[language], "n": [str(n) for n in range(2, 100)], "h": [str(h) for h in range(1, 13)]}
    template = _TEMPLATES[language][int(rng.integers(len(_TEMPLATES[language])))]
    text = _SLOT.sub(lambda m: words[m.group(1)][int(rng.integers(len(words[m.group(1)])))], template)
    return text[0].upper() + text[1:]


def sentences(language: str, rng: np.random.Generator) -> Iterator[str]:
    while True:
        yield make_sentence(language, rng)


def estimated_seconds(text: str) -> float:
    """Spoken length at about 2.5 words per second, used to decide how many sentences fill a quota."""
    return len(text.split()) / 2.5
